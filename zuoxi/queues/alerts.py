"""投诉预警: when a stored analysis crosses the complaint-risk threshold or fails an alert rule
(ES-01, the customer threatening to complain, by default), an alert is stored with the result, in
the same transaction — the team lead of that team sees it on their next page — and a delivery to
each of the team's webhooks is queued. `deliver_pending` then calls them, with retries, logging
every attempt.

What leaves the server is one team's alert, to that team's own webhooks only, with the customer's
words masked (`zuoxi.privacy`) and nothing else of the conversation. Webhook URLs are set by admins
only; calls use a timeout and do not follow redirects. A webhook reaches public addresses only: not this
machine, the LAN, link-local (cloud metadata) or other special addresses — by its literal address when it
is added, and by the addresses its host name resolves to when it is called (the address checked is the
address connected to) — unless the operator names the host or network in $ZUOXI_WEBHOOK_ALLOW
(`WEBHOOK_ALLOW`). Payload templates are a registry (`@template`): WeCom and DingTalk group robots
(markdown) and plain JSON.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import json
import os
import re
import socket
import threading
import time
import unicodedata
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta, tzinfo
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

from zuoxi.privacy import mask_text
from zuoxi.queues.items import QueueError
from zuoxi.queues.models import AlertMessage, AlertSettings, NewAlert, WebhookView
from zuoxi.store import as_utc, masked_label, source_zone, utc_now
from zuoxi.store import queues as Q
from zuoxi.store.tables import ResultRow
from zuoxi.store.users import HIDDEN_REFUSED, Account, hidden_character

TIMEOUT = 5.0  # seconds for one call of a webhook: connecting, sending and reading the whole answer
ATTEMPTS = 3
BACKOFF = (2.0, 10.0)  # seconds before the second and third attempts
EXCERPT = 120  # characters of the customer's words in an alert


def settings(engine) -> AlertSettings:
    return Q.read_alert_settings(engine)


def set_settings(
    engine, account: Account | None, risk: float, rules: list[str], max_age_hours: int = 0
) -> AlertSettings:
    rules = list(dict.fromkeys(r.strip() for r in rules if r.strip()))
    if not 0 < risk <= 1:
        raise QueueError("投诉风险阈值应在 0 到 1 之间（如 0.8）")
    if len(rules) > 20 or any(len(r) > 50 or not r.replace("-", "").replace("_", "").isalnum() for r in rules):
        raise QueueError("预警规则写规则编号，如 ES-01（最多 20 条，每条最多 50 个字符）")
    if not 0 <= max_age_hours <= 24 * 365:
        raise QueueError("只对多少小时内的会话预警：0（不限）到 8760 小时")
    chosen = AlertSettings(risk=risk, rules=rules, max_age_hours=max_age_hours)
    Q.set_alert_settings(engine, account, chosen)
    return chosen


# --- raising alerts ---------------------------------------------------------------------------------


def raise_alerts(session, rows) -> None:
    """Called by `Store.save_results` inside its transaction with the results it stored: alert the
    conversations that cross the settings (each once, whatever is re-analysed later)."""
    chosen = Q.alert_settings(session)
    hits: dict[str, tuple[ResultRow, list[str]]] = {}
    for row in rows:
        failed = set((row.failed_rules or "").split())
        matched = [r for r in chosen.rules if r in failed]
        if matched or (row.complaint_risk is not None and row.complaint_risk >= chosen.risk):
            hits.setdefault(row.conversation_key, (row, matched))
    if not hits:
        return
    session.flush()  # new results get their keys
    conversations = Q.alert_conversations(session, list(hits))
    oldest = utc_now() - timedelta(hours=chosen.max_age_hours) if chosen.max_age_hours else None
    alerts = []
    for key, conversation in conversations.items():
        if oldest and as_utc(conversation.started_at or conversation.imported_at) < oldest:
            continue
        row, matched = hits[key]
        result = row.final_data or row.data
        names = {f["rule"]: f["name"] for f in result["findings"]}
        alerts.append(
            NewAlert(
                key,
                row.pk,
                conversation.id,
                conversation.team,
                conversation.agent_id,
                row.complaint_risk,
                [(r, names.get(r, r)) for r in matched],
                excerpt(conversation.data, result, matched),
            )
        )
    Q.add_alerts(session, alerts)


def excerpt(conversation: dict, result: dict, rules: list[str]) -> str:
    """The customer's words behind the first alert rule hit, else their most negative turn, masked."""
    turns = conversation.get("turns") or []
    chosen = None
    for finding in result.get("findings", []):
        if finding["rule"] in rules and finding["status"] == "fail" and finding.get("evidence"):
            chosen = finding["evidence"][0]["turn"]
            break
    if chosen is None and result.get("customer_emotion"):
        chosen = max(result["customer_emotion"], key=lambda e: e["score"])["turn"]
    if chosen is None:
        chosen = next((i for i in range(len(turns) - 1, -1, -1) if turns[i].get("role") == "customer"), None)
    if chosen is None or not 0 <= chosen < len(turns):
        return ""
    text = " ".join(mask_text(turns[chosen].get("text", "")).split())
    return text if len(text) <= EXCERPT else text[: EXCERPT - 1] + "…"


# --- webhooks ---------------------------------------------------------------------------------------

Template = Callable[[AlertMessage, tzinfo], dict]
TEMPLATES: dict[str, Template] = {}
TEMPLATE_NAMES: dict[str, str] = {}
# A delivery's state as the product names it (the web page's names, zuoxi.web.queues.DELIVERY_STATES).
DELIVERY_STATES = {"pending": "待推送", "sending": "推送中", "delivered": "已推送", "failed": "推送失败"}


def template(name: str, title: str) -> Callable[[Template], Template]:
    """Register a payload template: it turns one alert into the JSON body a receiver expects."""

    def register(make: Template) -> Template:
        TEMPLATES[name], TEMPLATE_NAMES[name] = make, title
        return make

    return register


# Markdown's active characters as full-width look-alikes: data in a robot message stays text (no
# links, images or headings an agent id or a customer's words could smuggle in).
_INERT = str.maketrans(
    {
        "\\": "＼",
        "`": "｀",
        "*": "＊",
        "_": "＿",
        "[": "［",
        "]": "］",
        "(": "（",
        ")": "）",
        "<": "＜",
        ">": "＞",
        "#": "＃",
        "!": "！",
        "|": "｜",
        "~": "～",
        "&": "＆",
    }
)


def _inert(value) -> str:
    return " ".join(str(value).split()).translate(_INERT)


def _lines(m: AlertMessage, tz: tzinfo) -> list[str]:
    lines = [f"班组：{_inert(m.team)}", f"坐席：{_inert(m.agent_id or '—')}", f"会话：{_inert(m.conversation_id)}"]
    if m.risk is not None:
        lines.append(f"投诉风险：{m.risk * 100:.0f}%")
    if m.rules:
        lines.append("命中：" + "、".join(f"{_inert(rule)} {_inert(name)}" for rule, name in m.rules))
    if m.excerpt:
        lines.append(f"客户原话：{_inert(m.excerpt)}")
    lines.append(f"时间：{m.created_at.astimezone(tz):%Y-%m-%d %H:%M}")
    return lines


FOLLOW_UP = "请班长尽快跟进（zuoxi「投诉预警」页）"


@template("wecom", "企业微信群机器人")
def wecom(m: AlertMessage, tz: tzinfo) -> dict:
    content = "**投诉预警**\n" + "\n".join(f"> {line}" for line in _lines(m, tz)) + f"\n{FOLLOW_UP}"
    return {"msgtype": "markdown", "markdown": {"content": content}}


@template("dingtalk", "钉钉群机器人")
def dingtalk(m: AlertMessage, tz: tzinfo) -> dict:
    text = "#### 投诉预警\n\n" + "\n\n".join(f"> {line}" for line in _lines(m, tz)) + f"\n\n{FOLLOW_UP}"
    return {"msgtype": "markdown", "markdown": {"title": "投诉预警", "text": text}}


@template("json", "JSON（自建接收端）")
def plain(m: AlertMessage, tz: tzinfo) -> dict:
    return {
        "event": "complaint_alert",
        "alert_id": m.alert_id,
        "team": m.team,
        "agent_id": m.agent_id,
        "conversation_id": m.conversation_id,
        "risk": m.risk,
        "rules": [{"rule": r, "name": n} for r, n in m.rules],
        "excerpt": m.excerpt,
        "created_at": m.created_at.isoformat(),
    }


# --- where a webhook may point -----------------------------------------------------------------------

WEBHOOK_ALLOW = "ZUOXI_WEBHOOK_ALLOW"  # hosts and networks an operator lets webhooks reach though not public
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Allowed:
    """What $ZUOXI_WEBHOOK_ALLOW lets webhooks reach besides public addresses: host names (as written in the URL,
    any case) and networks (`10.0.0.0/8`, `192.168.1.20`, `fd00::/8`), separated by commas or spaces."""

    hosts: frozenset[str]
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]

    @classmethod
    def read(cls) -> Allowed:
        hosts, networks = set(), []
        for entry in re.split(r"[,\s]+", os.environ.get(WEBHOOK_ALLOW, "")):
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                hosts.add(_host_key(entry))
        return cls(frozenset(hosts), tuple(networks))

    def address(self, address: IPAddress) -> bool:
        return _public(address) or any(address in network for network in self.networks)


def _host_key(host: str) -> str:
    return host.strip("[]").rstrip(".").lower()


def _public(address: IPAddress) -> bool:
    """A public unicast address: not loopback, private (RFC 1918, unique-local), link-local, unspecified, multicast,
    shared (CGNAT) or reserved — an IPv4 address inside IPv6 (mapped, NAT64, 6to4) judged as itself."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = address.ipv4_mapped or address.sixtofour
        if inner is None and address in _NAT64:
            inner = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if inner is not None:
            return _public(inner)
    return address.is_global and not address.is_multicast


def _literal(host: str) -> IPAddress | None:
    """The address a host written as a number is (127.0.0.1, [::1], and the forms a resolver reads too: 127.1,
    2130706433, 0x7f000001), else None (a name)."""
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        pass
    try:
        found = socket.getaddrinfo(host, None, flags=socket.AI_NUMERICHOST)
    except (socket.gaierror, UnicodeError, ValueError):
        return None
    return ipaddress.ip_address(str(found[0][4][0]).partition("%")[0])


def _never_public_name(host: str) -> bool:
    return host == "localhost" or host.endswith(".localhost") or host == "localhost.localdomain"


def not_public(host: str, allowed: Allowed | None = None) -> str | None:
    """Why a webhook's host may not be called as written (the address it is, or names), or None: checked when the
    webhook is added and again before each call. A name that resolves to such an address is caught when called."""
    allowed = allowed or Allowed.read()
    key = _host_key(host)
    if key in allowed.hosts:
        return None
    if (address := _literal(key)) is not None:
        return None if allowed.address(address) else str(address)
    return key if _never_public_name(key) else None


def refused_target(what: str) -> str:
    return (
        f"推送地址不能指向本机、内网或其他非公网地址（{what}）：预警只推送到公网上的接收端。"
        f"如确需推送到内网的接收端，请让运维在服务器上设置环境变量 {WEBHOOK_ALLOW}（如 10.0.0.0/8 或 alerts.corp.lan）"
    )


def check_url(url: str) -> str:
    """An admin's webhook URL: http(s), a host, no spaces or control characters, at most 1000 characters; no user name
    or password (urllib would not send them: the URL could never be called, and they would be stored in clear);
    no personal data (a phone number in a query is stored with the URL, which must stay as written to be called);
    and a public host (`not_public`)."""
    url = url.strip()
    parts = urlsplit(url)
    if (
        len(url) > 1000
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or any(ch.isspace() or ord(ch) < 32 or hidden_character(ch) for ch in url)
    ):
        raise QueueError("推送地址应为 http:// 或 https:// 开头的完整网址（最多 1000 个字符）")
    if "%" in parts.netloc:  # urllib decodes a host's %xx before connecting: 127.0.0.%31 is 127.0.0.1
        raise QueueError("推送地址的主机名不能含 % 编码：请直接写出主机名或地址")
    if "@" in parts.netloc:
        raise QueueError(
            "推送地址不能带用户名或密码（user:pass@）：推送时不会用它们登录，而且会原样保存。"
            "请改用接收端给出的带密钥（如 key=…、access_token=…）的地址"
        )
    try:
        port = parts.port
    except ValueError:
        raise QueueError("推送地址的端口应为 1–65535 的数字") from None
    if port == 0:
        raise QueueError("推送地址的端口应为 1–65535 的数字")
    if mask_text(_without_tokens(parts)) != _without_tokens(parts):
        raise QueueError(
            "推送地址中不能有手机号、电话号码、身份证号、银行卡号或邮箱地址：推送地址要原样保存才能推送，无法打码。"
            "请去掉这些个人信息"
        )
    if (why := not_public(parts.hostname)) is not None:
        raise QueueError(refused_target(why))
    return url


# Query parameters a robot's issuer sets (WeCom's key=28703c75-0557-4160-…, DingTalk's access_token, sign,
# timestamp): no one's personal data, though a run of their digits may read as a phone number.
_TOKENS = frozenset({"key", "access_token", "token", "sign", "signature", "timestamp", "secret"})


def _without_tokens(parts) -> str:
    """The URL as checked for personal data: its tokens' values left out."""
    query = "&".join(
        k if k.lower() in _TOKENS else f"{k}={v}" for k, v in parse_qsl(parts.query, keep_blank_values=True)
    )
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def shown_url(url: str) -> str:
    """A webhook URL as pages show it: its key (query values, long path parts) down to the last 4 characters."""
    parts = urlsplit(url)
    path = "/".join(f"****{p[-4:]}" if len(p) >= 16 else p for p in parts.path.split("/"))
    query = "&".join(f"{k}=****{v[-4:]}" if v else k for k, v in parse_qsl(parts.query, keep_blank_values=True))
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], path, query, ""))


def _same_url(url: str) -> tuple[str, ...]:
    """A URL as two robots' are compared: scheme and host in any case are the same address."""
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", parts.query


def _same_name(name: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def duplicate_webhook(name: str, team: str, url: str, existing: list[WebhookView]) -> QueueError | None:
    """Why a webhook may not be added beside `existing` (None: it may): a team's alerts would reach the same address
    twice, so every alert would be sent twice; or its name, which the delivery log tells robots apart by, is taken."""
    for hook in existing:
        if hook.team == team and _same_url(hook.url) == _same_url(url):
            again = "，已停用：需要时重新启用它即可" if not hook.active else ""
            return QueueError(
                f"班组「{team}」已有这个推送地址（编号 {hook.id}「{hook.name}」{again}），不再重复添加："
                "同一地址加两次，每条预警都会推送两次"
            )
    for hook in existing:
        if _same_name(hook.name) == _same_name(name):
            return QueueError(f"已有名为「{hook.name}」的推送地址（编号 {hook.id}，班组「{hook.team}」）：请换一个名称")
    return None


def add_webhook(engine, account: Account | None, name: str, team: str, url: str, template_name: str) -> int:
    """A new webhook; its name and team are masked as conversations' are (the team in the form users and
    conversations store it in, so that the team's alerts reach it), then bounded. The same address for the same
    team, or a name already taken, is refused (`duplicate_webhook`): the command line and the web app add through
    here."""
    for what, value in (("名称", name), ("班组", team)):
        if char := hidden_character(value.strip()):
            raise QueueError(f"{what}{HIDDEN_REFUSED}（含 U+{ord(char):04X}），请只用看得见的文字")
    name, team = mask_text(name.strip()), masked_label(team) or ""
    if not 0 < len(name) <= 100 or not 0 < len(team) <= 100:
        raise QueueError("名称和班组都要填写（各最多 100 个字）")
    if template_name not in TEMPLATES:
        raise QueueError(f"消息格式只能是：{'、'.join(f'{code} {name}' for code, name in TEMPLATE_NAMES.items())}")
    url = check_url(url)
    return Q.add_webhook(
        engine, account, name, team, url, template_name, lambda existing: duplicate_webhook(name, team, url, existing)
    )


@dataclass(frozen=True)
class Outcome:
    ok: bool
    status_code: int | None
    error: str


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer to log, not a new address to call."""

    def redirect_request(self, *args, **kwargs):
        return None


class _Refused(OSError):
    """A webhook's host resolved to an address it may not reach (`Allowed.address`): nothing was sent."""

    def __init__(self, host: str, address: str):
        super().__init__(f"{host} → {address}")
        self.message = refused_target(f"{host} 解析为 {address}") + "；未推送"


def _guarded_connection(target: str, allowed: Allowed) -> Callable[..., socket.socket]:
    """`socket.create_connection` for a call to `target`: its addresses are resolved once, every one must be allowed,
    and the socket connects to one of those very addresses — a name cannot answer a public address to the check and
    a private one to the connection (DNS rebinding). Only a connection to the operator's proxy (from the environment,
    as urllib reads it), which resolves the target itself, or to a host `ZUOXI_WEBHOOK_ALLOW` names is not checked:
    any other host is (urllib connects to a host decoded from the URL, 127.0.0.%31 as 127.0.0.1)."""
    proxies = {_host_key(urlsplit(proxy).hostname or "") for proxy in urllib.request.getproxies().values()}

    def create_connection(address, timeout, source_address=None, **kwargs):
        host, port = address[0], address[1]
        if (_host_key(host) != target and _host_key(host) in proxies) or _host_key(host) in allowed.hosts:
            return socket.create_connection(address, timeout, source_address, **kwargs)
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        for *_, sockaddr in found:
            ip = ipaddress.ip_address(str(sockaddr[0]).partition("%")[0])
            if not allowed.address(ip):
                raise _Refused(_host_key(host), str(ip))
        error: OSError = OSError(f"{host}: no address")
        for *_, sockaddr in found:
            try:
                return socket.create_connection((str(sockaddr[0]), port), timeout, source_address, **kwargs)
            except OSError as failed:
                error = failed
        raise error

    return create_connection


class _Watched:
    """The connections one call opens (through a proxy too), so that its deadline can cut them: urllib's timeout
    applies to each read, and a receiver sending a byte every few seconds would hold the worker — every team's
    alerts — for as long as it likes. Each connects through `_guarded_connection`."""

    def __init__(self, target: str = "", allowed: Allowed | None = None) -> None:
        self.connections: list[http.client.HTTPConnection] = []
        self.cut_off = False
        self.target, self.allowed = _host_key(target), allowed or Allowed.read()

    def opened(self, kind: type[http.client.HTTPConnection]) -> Callable[..., http.client.HTTPConnection]:
        def make(*args, **kwargs) -> http.client.HTTPConnection:
            connection = kind(*args, **kwargs)
            connection._create_connection = _guarded_connection(self.target, self.allowed)  # type: ignore[attr-defined]
            self.connections.append(connection)
            return connection

        return make

    def cut(self) -> None:
        self.cut_off = True
        for connection in self.connections:
            if connection.sock is not None:
                with contextlib.suppress(OSError):  # closed meanwhile
                    connection.sock.shutdown(socket.SHUT_RDWR)

    def handlers(self) -> list[urllib.request.BaseHandler]:
        watched = self

        class Http(urllib.request.HTTPHandler):
            def http_open(self, req):
                return self.do_open(watched.opened(http.client.HTTPConnection), req)

        class Https(urllib.request.HTTPSHandler):
            def https_open(self, req):
                return self.do_open(watched.opened(http.client.HTTPSConnection), req)  # a verified default context

        return [Http(), Https(), _NoRedirect()]


def no_answer(timeout: float) -> str:
    return f"{timeout:g} 秒内没有收到完整的答复"


def post_json(url: str, payload: dict, timeout: float = TIMEOUT) -> Outcome:
    """POST the payload, the whole exchange within `timeout`; WeCom and DingTalk answer 200 with an `errcode`,
    non-zero when they refuse. A host that is not public (`not_public`; a name resolving to such an address, when
    connecting) is not called: a webhook stored by an older zuoxi, or one whose name now resolves elsewhere, cannot
    make the server call this machine or its network."""
    host = unquote(urlsplit(url).hostname or "")  # as urllib connects to it
    allowed = Allowed.read()
    if (why := not_public(host, allowed)) is not None:
        return Outcome(False, None, refused_target(why) + "；未推送")
    request = urllib.request.Request(  # noqa: S310 - stored URLs passed check_url: http(s) only
        url,
        data=json.dumps(payload, ensure_ascii=False).encode("utf-8"),
        method="POST",
        headers={"Content-Type": "application/json; charset=utf-8", "User-Agent": "zuoxi"},
    )
    watched = _Watched(host, allowed)
    deadline = threading.Timer(timeout, watched.cut)
    deadline.start()
    try:
        with urllib.request.build_opener(*watched.handlers()).open(request, timeout=timeout) as response:
            status, body = response.status, response.read(1 << 16)
    except urllib.error.HTTPError as error:
        return Outcome(False, error.code, f"对方返回 HTTP {error.code}")
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as error:
        refused = getattr(error, "reason", error)
        if isinstance(refused, _Refused):
            return Outcome(False, None, refused.message)
        if watched.cut_off:
            return Outcome(False, None, no_answer(timeout))
        return Outcome(False, None, f"连接失败（{type(error).__name__}: {getattr(error, 'reason', error)}"[:499] + "）")
    finally:
        deadline.cancel()
    if watched.cut_off:  # the answer was cut at the deadline: what was read is not all of it
        return Outcome(False, None, no_answer(timeout))
    try:
        answer = json.loads(body)
    except ValueError:
        answer = None
    if isinstance(answer, dict) and str(answer.get("errcode", 0)) != "0":
        return Outcome(
            False, status, f"对方拒收：errcode {answer.get('errcode')}：{str(answer.get('errmsg', ''))[:200]}"
        )
    return Outcome(True, status, "")


@dataclass
class DeliveryReport:
    delivered: int = 0
    failed: int = 0


def deliver_pending(
    engine,
    post: Callable[[str, dict, float], Outcome] = post_json,
    attempts: int = ATTEMPTS,
    backoff: tuple[float, ...] = BACKOFF,
    sleep: Callable[[float], object] = time.sleep,
    tz: tzinfo | None = None,
) -> DeliveryReport:
    """Call each pending delivery's webhook up to `attempts` times, waiting `backoff` between tries;
    every attempt goes to the delivery log, and a delivery whose last attempt failed is `failed`
    (an admin sends those again with "重新推送" or `zuoxi queue alerts send --retry-failed`)."""
    tz = tz or source_zone()
    report = DeliveryReport()
    for delivery in Q.pending_deliveries(engine):
        if not Q.claim_delivery(engine, delivery.delivery_id):  # another server process is sending it
            continue
        payload = TEMPLATES[delivery.template](delivery.message, tz)
        for attempt in range(1, attempts + 1):
            outcome = post(delivery.url, payload, TIMEOUT)
            last = attempt == attempts
            Q.log_attempt(engine, delivery.delivery_id, outcome.ok, outcome.status_code, outcome.error, final=last)
            if outcome.ok:
                report.delivered += 1
                break
            if last:
                report.failed += 1
            else:
                sleep(backoff[min(attempt, len(backoff)) - 1])
    return report
