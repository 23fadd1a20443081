"""The web app and its database: `zuoxi serve` (with `--demo`), `zuoxi db upgrade`, `zuoxi db remask`."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from zuoxi.cli.app import DbOption, SchemaOption, app, err, plain_out, run_batch
from zuoxi.engines.local import Batch
from zuoxi.report.labels import ROLE_TITLES, named
from zuoxi.store import Store

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
DEMO_USERS = Path(__file__).resolve().parents[1] / "web" / "demo_users.yaml"
DEMO_DB = "zuoxi-demo.db"  # `serve --demo` without --db: never the default database real users are kept in


@app.command()
def serve(
    db: DbOption = None,
    schema: SchemaOption = None,
    host: Annotated[str, typer.Option(help="监听地址")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="端口")] = 8000,
    demo: Annotated[
        bool,
        typer.Option(
            "--demo",
            help=f"先载入自带的示例会话和演示用户（没有时），存入 ./{DEMO_DB}，除非 --db 另给数据库；"
            "数据库里已有自己的用户时拒绝（演示密码是公开的）",
        ),
    ] = False,
    no_models: Annotated[bool, typer.Option("--no-models", help="上传的会话不用训练好的模型分析")] = False,
    recordings: Annotated[
        Path | None,
        typer.Option(
            "--recordings",
            file_okay=False,
            exists=True,
            help="网页可以播放的通话录音所在文件夹（此外的都不能播放）；用 --demo 时默认是示例文件夹",
        ),
    ] = None,
    max_upload_mb: Annotated[
        int,
        typer.Option(
            "--max-upload-mb",
            min=1,
            max=10_000,
            help="一次上传（全部文件）的上限，单位 MB；超过则以 413 拒绝",
        ),
    ] = 20,
    timezone: Annotated[
        str | None,
        typer.Option("--timezone", help="网页显示时间和按日期筛选所用的时区（默认 $ZUOXI_TZ，否则 Asia/Shanghai）"),
    ] = None,
    workers: Annotated[int, typer.Option("--workers", min=1, max=64, help="服务进程数（2 个及以上需要 --redis）")] = 1,
    redis: Annotated[
        str | None,
        typer.Option(
            "--redis",
            help="Redis URL（redis://127.0.0.1:6379/0）：所有服务进程共享实时辅助会话和登录限制",
        ),
    ] = None,
    trusted_proxy: Annotated[
        str | None,
        typer.Option(
            "--trusted-proxy",
            help="反向代理的地址（逗号分隔），信任其 X-Forwarded-For 给出的客户端地址；"
            "不给则忽略该请求头，谁也不能自选登录限制所计的地址",
        ),
    ] = None,
) -> None:
    """启动网页端（看板、复核、申诉）。API 文档在 /docs。"""
    import os
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    import uvicorn

    from zuoxi.store import database_schema, database_url
    from zuoxi.web import SERVE_SETTINGS, ServeSettings, create_app

    if workers > 1 and not redis:
        raise typer.BadParameter("--workers 为 2 及以上时需要 --redis：实时辅助会话要能在任一进程里继续")
    _check_network(host, recordings, trusted_proxy)
    if timezone:  # every option is checked before anything is written (the demo's data) or started
        try:
            ZoneInfo(timezone)
        except (ValueError, ZoneInfoNotFoundError):
            raise typer.BadParameter(f"没有时区 {timezone!r}（例如 Asia/Shanghai）") from None
    if redis:  # each worker connects at start: a bad URL made them crash and restart for ever
        from redis.exceptions import RedisError

        from zuoxi.web.shared import connect

        try:
            connect(redis).close()
        except (ValueError, RedisError) as error:
            raise typer.BadParameter(f"连不上 Redis：{error}", param_hint="--redis") from None
    try:
        schema = database_schema(schema, database_url(DEMO_DB if demo and db is None else db))
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    if schema:
        os.environ["ZUOXI_DB_SCHEMA"] = schema  # the workers' stores too
    _check_port(host, port)  # last: a port taken now is what `make run` run twice meets after a minute of demo data
    db = _prepared(db, demo)
    recordings = recordings or (SAMPLES if demo else None)
    shown = f"[{host}]" if ":" in host else host  # an IPv6 address is bracketed in a URL
    err.print(f"zuoxi 网页端：http://{shown}:{port}/  （API 文档：http://{shown}:{port}/docs）", highlight=False)
    # WebSocket frames are single live-assist turns (at most 2,000 characters): 256 KiB is plenty.
    settings = ServeSettings(
        db=db,
        models=not no_models,
        recordings=str(recordings) if recordings else None,
        max_upload=max_upload_mb << 20,
        timezone=timezone,
        redis=redis,
    )
    # Uvicorn believes X-Forwarded-For from loopback by default: a local client could then name any address
    # and sign in past its lockout. Only a proxy named with --trusted-proxy is believed.
    network: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": "warning",
        "ws_max_size": 1 << 18,
        "proxy_headers": trusted_proxy is not None,
        "forwarded_allow_ips": trusted_proxy or "",
    }
    if workers == 1:
        uvicorn.run(create_app(**settings), **network)
        return
    os.environ[SERVE_SETTINGS] = json.dumps(settings)
    uvicorn.run("zuoxi.web:app_from_environment", factory=True, workers=workers, **network)


def _check_network(host: str, recordings: Path | None, trusted_proxy: str | None) -> None:
    """What uvicorn would fail on only after the URL was printed (and the demo's data loaded), or take silently."""
    _check_host(host)
    if recordings is not None and not recordings.is_dir():  # a pipe passed `file_okay=False`
        raise typer.BadParameter(f"{str(recordings)!r} 不是文件夹", param_hint="--recordings")
    if trusted_proxy is not None:
        _check_proxies(trusted_proxy)


def _check_host(host: str) -> None:
    """`--host` resolves and each of its addresses can be listened on here (bound for a moment on a free port, as
    the server binds every address the name has); else one line naming the option, before anything is started."""
    import socket

    if not host.strip():  # uvicorn took it as every interface, silently
        raise typer.BadParameter("不能为空（0.0.0.0 表示监听所有网卡）", param_hint="--host")
    try:
        socket.getaddrinfo(host, None, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (OSError, UnicodeError, ValueError) as error:  # gaierror; a label over 63 characters is a UnicodeError
        raise typer.BadParameter(f"无法解析 {host!r}：{_reason(error)}", param_hint="--host") from None
    if refused := _unbound(host, 0):
        address, why = refused
        raise typer.BadParameter(f"无法在 {host!r}（{address}）上监听：{_reason(why)}", param_hint="--host")


def _check_port(host: str, port: int) -> None:
    """`--port` is free on every address of `--host` (a port only lingering after a server stopped is free, as it
    is to uvicorn); else one line, before the demo's data is loaded."""
    if refused := _unbound(host, port):
        address, why = refused
        raise typer.BadParameter(
            f"无法在 {address} 的端口 {port} 上监听：{_reason(why)}（是否已有另一个服务在运行？）", param_hint="--port"
        )


def _unbound(host: str, port: int) -> tuple[str, OSError] | None:
    """The first address of `host` (resolved) on which `port` cannot be bound for a moment, as uvicorn binds it
    (address reuse on), and why; None when every one can (port 0: any free port)."""
    import socket

    for family, kind, proto, _, address in socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    ):
        try:
            with socket.socket(family, kind, proto) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind(address)
        except OSError as error:
            return str(address[0]), error
    return None


def _check_proxies(trusted_proxy: str) -> None:
    """Each of `--trusted-proxy`'s entries is an address or a network: anything else matched no client, so the
    proxy it was meant to name was silently not believed. `*` alone believes every client."""
    import ipaddress

    if trusted_proxy == "*":  # as uvicorn reads it: anywhere else a `*` is a literal no client matches
        return
    for entry in trusted_proxy.split(","):
        try:
            ipaddress.ip_network(entry.strip())
        except ValueError:
            raise typer.BadParameter(
                f"{entry.strip()!r} 不是 IP 地址或网段（例如 10.0.0.5 或 10.0.0.0/24）",
                param_hint="--trusted-proxy",
            ) from None


def _reason(error: BaseException) -> str:
    return getattr(error, "strerror", None) or str(error)


db_app = typer.Typer(help="数据库的表结构版本、给旧版本存入的数据重新打码，以及重算看板统计。", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade(
    db: DbOption = None,
    schema: SchemaOption = None,
    revision: Annotated[str, typer.Option(help="升级到的版本（revision）")] = "head",
) -> None:
    """把数据库升级到当前版本的表结构（Alembic 迁移；`zuoxi serve` 和其他命令启动时也会自动升级）。
    新版本要启动多个服务时，先运行一次。"""
    from alembic.util.exc import CommandError

    from zuoxi.store import StoreUnavailable, create_store_engine, database_schema, database_url, shown_url
    from zuoxi.store.migrate import upgrade
    from zuoxi.store.remask import has_stored_data

    try:
        schema = database_schema(schema, database_url(db))
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    try:
        engine = create_store_engine(database_url(db), schema)
    except (ImportError, ValueError) as error:  # an unknown scheme, a driver not installed, a URL that is none
        raise StoreUnavailable(f"无法打开数据库 {shown_url(database_url(db))}：{error}") from None
    try:
        before, after = upgrade(engine, revision)
        older_data = before != after and has_stored_data(engine)
    except CommandError as error:  # an unknown --revision
        raise typer.BadParameter(str(error), param_hint="--revision") from None
    except ValueError as error:  # not zuoxi's database, or a newer zuoxi's (zuoxi.store.migrate)
        raise StoreUnavailable(f"无法升级数据库 {shown_url(database_url(db))}：{error}") from None
    finally:
        engine.dispose()
    where = f"{engine.url.render_as_string(hide_password=True)}" + (f"（schema {schema}）" if schema else "")
    err.print(
        f"{where}：版本 {before or '无'} → {after}" if before != after else f"{where}：已是版本 {after}",
        highlight=False,
    )
    if older_data:
        err.print("提示：旧版本存入的个人信息可能未按当前规则打码，请运行 zuoxi db remask 重新打码", highlight=False)


@db_app.command("remask")
def db_remask(
    db: DbOption = None,
    schema: SchemaOption = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="只统计会改什么，不写入（数据库拒绝的改写只在实际运行时才会出现）",
        ),
    ] = False,
) -> None:
    """用当前版本的打码规则，给旧版本存入的全部数据重新打码：写入时会打码的所有文本（会话及其质检结果、用户、
    评论、申诉、备注、抽检计划、推送、演练、案例、评分表、外呼活动、审计日志），班组和坐席工号处处保持同一写法。
    分批处理，每批各自提交；再运行一次不会再改动。数据库拒绝改写某行时（会列出，保持原样）退出状态为 1。"""
    from zuoxi.store.remask import remask

    store = Store(db, schema)
    try:
        report = remask(store.engine, dry_run=dry_run)
    finally:
        store.close()
    verb = "将改写" if dry_run else "已改写"
    table = Table(title=f"重新打码{'（试运行，未写入）' if dry_run else ''}")
    table.add_column("表")
    table.add_column("列")
    table.add_column(verb, justify="right")
    for name, columns in report.changed.items():
        for column, count in columns.items():
            table.add_row(name, column, str(count), style=None if count else "dim")
    plain_out.print(table)
    if report.stats_rebuilt:
        plain_out.print(f"看板统计（stats）{'将' if dry_run else '已'}按打码后的班组和坐席工号重算")
    rows = sum(report.rows.values())
    plain_out.print(f"共检查 {rows} 行，{verb} {report.total} 个值" + ("（试运行：数据库未改动）" if dry_run else ""))
    if report.refused:
        refused = Table(title="未能改写的行（数据库拒绝，或存储的内容无法读取；这些行保持原样，个人信息可能仍在其中）")
        for header in ("表", "行", "列", "原因"):
            refused.add_column(header)
        for item in report.refused:
            refused.add_row(item.table, item.key, "、".join(item.columns), item.reason)
        err.print(refused)
        err.print(f"{len(report.refused)} 行未能改写：按上表原因处理后再运行 zuoxi db remask", highlight=False)
        raise typer.Exit(1)


@db_app.command("rebuild-stats")
def db_rebuild_stats(db: DbOption = None, schema: SchemaOption = None) -> None:
    """按全部质检结果重算看板统计（stats 表）。
    看板的数字与会话列表对不上时运行（例如旧版本在多人同时复核、同时分析后留下的偏差）。
    重算在一个事务里完成：期间写入质检结果的操作稍等，看板照常可看。"""
    from zuoxi.store.stats import rebuild_figures

    store = Store(db, schema)
    try:
        results, cells, wrong = rebuild_figures(store.engine)
    finally:
        store.close()
    plain_out.print(
        f"已按 {results} 条质检结果重算看板统计：{cells} 个统计格，"
        + (f"其中 {wrong} 个与重算前不同，已更正" if wrong else "与重算前一致")
    )


def _prepared(db: str | None, demo: bool) -> str | None:
    """The database the server uses, migrated here, once, before any worker starts; with `demo`, the demo's
    database (./DEMO_DB unless --db names another) with the samples and demo users loaded."""
    if demo and db is None:
        db = DEMO_DB
    store = Store(db)
    try:
        if demo:
            _refuse_real_users(store)
            _load_demo(store)
    finally:
        store.close()
    return db


def _demo_users() -> dict:
    import yaml

    return yaml.safe_load(DEMO_USERS.read_text(encoding="utf-8"))


def _refuse_real_users(store: Store) -> None:
    """The demo's users sign in with a password printed in the README: they must never join a database that
    has users of its own (an administrator's `serve --demo` on the production database would open it to anyone)."""
    from zuoxi.store.users import list_accounts

    demo = {user["username"] for user in _demo_users()["users"]}
    if others := sorted(a.username for a in list_accounts(store.engine) if a.username not in demo):
        shown = "、".join(others[:5]) + (f" 等 {len(others)} 个" if len(others) > 5 else "")
        raise typer.BadParameter(
            f"这个数据库已有自己的用户（{shown}）；演示会加入密码公开的账号：请给演示单独一个数据库（--db {DEMO_DB}）",
            param_hint="--demo",
        )


def _load_demo(store: Store) -> None:
    """The bundled samples, analyzed, and the demo users of zuoxi/web/demo_users.yaml."""
    from zuoxi.store.users import UserError, add_user

    if store.stats()["conversations"] == 0 and SAMPLES.is_dir():
        summary = run_batch(Batch([SAMPLES], store=store, analyze=True, resume=False), lambda item: None)
        err.print(f"演示：已分析 {summary.analyzed} 个示例会话，存入 {store.url}", highlight=False)
    demo = _demo_users()
    for user in demo["users"]:
        with contextlib.suppress(UserError):  # already there
            add_user(store.engine, password=demo["password"], **user)
    from zuoxi.queues.demo import demo_queues  # 抽检与复核 in the demo (issue 24)

    sampled = demo_queues(store)
    if sampled is not None:
        err.print(
            f"演示：抽检计划 weekly 抽中 {sampled.sampled} 条，已分配给 {'、'.join(sampled.by_inspector) or '（无质检员）'}",
            highlight=False,
        )
    names = "，".join(f"{u['username']}（{named(ROLE_TITLES, u['role'])}）" for u in demo["users"])
    err.print(f"演示账号（密码 {demo['password']}）：{names}", highlight=False)
