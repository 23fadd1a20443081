"""抽检与复核 and 投诉预警 in the web app (zuoxi.queues): 我的待复核 for inspectors, progress and
workload for team leads (their team's items only), sampling plans (YAML or a form), the rule-quality
figures from the random share, complaint alerts, and the admins' webhook settings and delivery log.
Pages post forms back and redirect; the JSON API under /api/queue and /api/alerts gives the same."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime
from typing import Annotated
from urllib.parse import quote

import yaml
from fastapi import APIRouter, Form, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from zuoxi.privacy import mask_text
from zuoxi.queues import alerts as A
from zuoxi.queues import items as I
from zuoxi.queues.assignment import METHOD_NAMES
from zuoxi.queues.models import Period
from zuoxi.queues.plans import CRITERIA, NAME, PlanError, parse_plan
from zuoxi.queues.precision import precision_by_share
from zuoxi.queues.sampling import run_plan
from zuoxi.store import queues as Q
from zuoxi.store.queries import NotFound, filter_options
from zuoxi.store.users import ADMINS, INSPECTORS, OVERSEERS
from zuoxi.web import display as D
from zuoxi.web import errors as E
from zuoxi.web.pages import back, render, templates
from zuoxi.web.params import DB, Day, Id
from zuoxi.web.security import Signed, require_role

router = APIRouter()
Short = Annotated[str, Form(max_length=100)]
Note = Annotated[str, Form(max_length=500)]
PlanName = Annotated[str, Path(max_length=50)]
SCHEDULES = {"daily": "每天（抽昨天的会话）", "weekly": "每周（抽上周一至周日的会话）"}
DELIVERY_STATES = {"pending": "待推送", "sending": "推送中", "delivered": "已推送", "failed": "推送失败"}
ALERT_FILTERS = {"open": "待跟进", "handled": "已跟进", "all": "全部"}
EXAMPLE = """id: {name}
name: 新抽检计划
schedule: weekly
random:
  share: 0.1
rules:
  - id: low-score
    kind: score_band
    max: 60
quota:
  per_agent: 5
assignment:
  method: round_robin
  due_days: 2
"""

templates.env.globals.update(
    skip_reasons=I.SKIP_REASONS,
    item_status=I.STATUS_NAMES,
    schedules=SCHEDULES,
    methods=METHOD_NAMES,
    webhook_templates=A.TEMPLATE_NAMES,
    delivery_states=DELIVERY_STATES,
    criterion_names={kind: cls.label for kind, cls in CRITERIA.items()},
)
templates.env.filters["shown_url"] = A.shown_url
D.AUDIT_ACTIONS.update(
    {
        "plan.save": "保存抽检计划",
        "plan.active": "启用/停用抽检计划",
        "queue.run": "抽样",
        "queue.done": "完成复核任务",
        "queue.skipped": "跳过复核任务",
        "queue.reassign": "改派复核任务",
        "queue.assign": "分配复核任务",
        "alert.handled": "跟进投诉预警",
        "alert.settings": "修改预警设置",
        "webhook.add": "添加推送地址",
        "webhook.update": "启用/停用推送地址",
        "webhook.retry": "重新推送",
    }
)
for field_name, label in {
    "item_id": "复核任务编号",
    "alert_id": "预警编号",
    "webhook_id": "推送地址编号",
    "skip_reason": "跳过原因",
    "comment": "说明",
    "inspector": "质检员",
    "note": "跟进情况",
    "plan": "抽检计划",
    "plan_yaml": "计划内容",
    "name": "名称",
    "team": "班组",
    "url": "推送地址",
    "template": "消息格式",
    "day": "日期",
    "first": "开始日期",
    "last": "结束日期",
    "risk": "投诉风险阈值",
    "rules": "预警规则",
    "max_age_hours": "小时数",
    "status": "状态",
    "where": "返回页面",
    "active": "状态",
}.items():
    E.FIELDS.setdefault(field_name, label)  # 422 messages name these fields in Chinese too


def _today(request: Request) -> date:
    return datetime.now(request.app.state.tz).date()


def _plan_name(name: str) -> str:
    if not NAME.match(name):
        raise HTTPException(404, "没有这个抽检计划；计划 id 由小写字母、数字、- 和 _ 组成，以字母开头")
    return name


# --- 我的待复核 and progress -----------------------------------------------------------------------------


@router.get("/queue", response_class=HTMLResponse, include_in_schema=False)
def my_queue_page(request: Request, engine: DB, signed: Signed = require_role(INSPECTORS)):
    today = _today(request)
    return render(
        request,
        "queue.html.j2",
        signed,
        today=today,
        counts=Q.queue_counts(engine, signed.account, today),
        items=Q.queue_items(engine, signed.account, today, mine=True),
        closed=Q.queue_items(engine, signed.account, today, mine=True, status="closed", limit=100),
    )


@router.get("/queue/team", response_class=HTMLResponse, include_in_schema=False)
def team_page(
    request: Request,
    engine: DB,
    plan: Annotated[str, Query(max_length=50)] = "",
    signed: Signed = require_role(OVERSEERS),
):
    today = _today(request)
    plans, workload = Q.progress(engine, signed.account, today)
    return render(
        request,
        "queue_team.html.j2",
        signed,
        today=today,
        plans=plans,
        workload=workload,
        plan=plan,
        items=Q.queue_items(engine, signed.account, today, plan=plan or None, limit=300),
        inspectors=[w.inspector for w in workload],
    )


def _after(where: str, key: str | None = None):
    """Where a queue form returns: the inspector's queue, the team page or the conversation."""
    if where == "detail" and key:
        return f"/conversations/{quote(key, safe='')}"
    return "/queue/team" if where == "team" else "/queue"


@router.post("/queue/items/{item_id}/done", include_in_schema=False)
def done_form(
    item_id: Id,
    engine: DB,
    where: Annotated[str, Form(max_length=10)] = "queue",
    signed: Signed = require_role(INSPECTORS, write=True),
):
    state = Q.item_state(engine, signed.account, item_id)
    try:
        I.complete(engine, signed.account, item_id)
    except I.QueueError as problem:
        return back(_after(where, state.conversation_key), signed, error=str(problem))
    return back("/queue", signed, done=f"已完成复核任务 {item_id}")


@router.post("/queue/items/{item_id}/skip", include_in_schema=False)
def skip_form(
    item_id: Id,
    engine: DB,
    skip_reason: Annotated[str, Form(max_length=30)] = "",
    comment: Note = "",
    where: Annotated[str, Form(max_length=10)] = "queue",
    signed: Signed = require_role(OVERSEERS, write=True),
):
    state = Q.item_state(engine, signed.account, item_id)
    target = "/queue/team" if where == "team" else "/queue"
    try:
        I.skip(engine, signed.account, item_id, skip_reason, comment)
    except I.QueueError as problem:
        return back(_after(where, state.conversation_key), signed, error=str(problem))
    return back(target, signed, done=f"已跳过复核任务 {item_id}")


@router.post("/queue/items/{item_id}/reassign", include_in_schema=False)
def reassign_form(
    request: Request,
    item_id: Id,
    engine: DB,
    inspector: Short = "",
    where: Annotated[str, Form(max_length=10)] = "team",
    signed: Signed = require_role(OVERSEERS, write=True),
):
    target = "/queue/team" if where == "team" else "/queue"
    try:
        I.reassign(engine, signed.account, item_id, inspector, _today(request))
    except I.QueueError as problem:
        return back(target, signed, error=str(problem))
    return back(target, signed, done=f"复核任务 {item_id} 已改派给 {inspector.strip()}")


# --- plans ------------------------------------------------------------------------------------------


def _run_period(spec, day: date | None, first: date | None, last: date | None, today: date, tz) -> Period:
    start, end = first or last, last or first
    if start and end:  # one of the two alone is a period of that day
        return Period.of_days(start, end, tz)
    return Period.containing(spec.schedule, day, tz) if day else Period.last_complete(spec.schedule, today, tz)


@router.get("/queue/plans", response_class=HTMLResponse, include_in_schema=False)
def plans_page(
    request: Request,
    engine: DB,
    new: Annotated[str, Query(max_length=50)] = "",
    signed: Signed = require_role(OVERSEERS),
):
    """The plans and the form; `new` (the "用 YAML 新建" form) opens the editor of a plan of that id."""
    if new.strip():
        return back(f"/queue/plans/{quote(new.strip(), safe='')}")
    return render(
        request,
        "queue_plans.html.j2",
        signed,
        plans=Q.list_plans(engine),
        problems=[],
        form={},
        options=filter_options(engine, signed.account),
    )


def _number(text: str, what: str, low: float, high: float) -> float | None:
    if not text.strip():
        return None
    try:
        value = float(text)
    except ValueError:
        raise PlanError([f"{what}应为数字"]) from None
    if not low <= value <= high:
        raise PlanError([f"{what}应在 {low:g} 到 {high:g} 之间"])
    return int(value) if value.is_integer() else value  # 60, not 60.0, in the plan's YAML


def _listed(text: str) -> list[str]:
    return [x.strip() for x in text.replace("，", ",").replace("、", ",").split(",") if x.strip()]


def plan_from_form(form: dict[str, str]) -> dict:
    """The plan the form describes, as the dict its YAML holds (validated by `parse_plan` after)."""
    share = _number(form.get("random_share", ""), "随机抽样比例", 0, 100)
    score_max = _number(form.get("score_max", ""), "低分线", -1000, 1000)
    risk = _number(form.get("risk_min", ""), "投诉风险阈值", 0, 100)
    days = _number(form.get("new_agent_days", ""), "新坐席天数", 1, 3650)
    quota = _number(form.get("per_agent", ""), "每位坐席配额", 1, 1000)
    due = _number(form.get("due_days", ""), "完成期限", 0, 60)
    rules: list[dict] = []
    if form.get("veto"):
        rules.append({"id": "veto", "kind": "veto"})
    if risk is not None or form.get("complaint"):
        rules.append(
            {
                "id": "complaint",
                "kind": "complaint_risk",
                "min": (risk or 100) / 100,
                **({"rules": ["ES-01"]} if form.get("complaint") else {}),
            }
        )
    if score_max is not None:
        rules.append({"id": "low-score", "kind": "score_band", "max": score_max})
    if _listed(form.get("failed_rules", "")):
        rules.append({"id": "failed-rules", "kind": "failed_rules", "rules": _listed(form.get("failed_rules", ""))})
    if form.get("disagreement"):
        rules.append({"id": "disagreement", "kind": "model_disagreement"})
    if days is not None:
        rules.append({"id": "new-agents", "kind": "new_agents", "days": int(days)})
    plan: dict = {
        "id": form.get("id", "").strip(),
        "name": form.get("name", "").strip(),
        "schedule": form.get("schedule", "weekly"),
    }
    scope = {
        k: v
        for k, v in (
            ("teams", _listed(form.get("teams", ""))),
            ("channels", [c for c in ("chat", "call") if form.get(f"channel_{c}")]),
        )
        if v
    }
    if scope:
        plan["scope"] = scope
    if share:
        plan["random"] = {"share": share / 100}
    plan["rules"] = rules
    if quota is not None:
        plan["quota"] = {"per_agent": int(quota), "fill": bool(form.get("fill"))}
    plan["assignment"] = {
        "method": form.get("method", "round_robin"),
        "inspectors": _listed(form.get("inspectors", "")),
        "exclude_own_team": bool(form.get("exclude_own_team")),
        "due_days": int(due if due is not None else 2),
    }
    return plan


FORM_FIELDS = (
    "id",
    "name",
    "schedule",
    "teams",
    "channel_chat",
    "channel_call",
    "random_share",
    "veto",
    "complaint",
    "risk_min",
    "score_max",
    "failed_rules",
    "disagreement",
    "new_agent_days",
    "per_agent",
    "fill",
    "method",
    "inspectors",
    "exclude_own_team",
    "due_days",
)


@router.post("/queue/plans", response_class=HTMLResponse, include_in_schema=False)
async def create_plan_form(request: Request, engine: DB, signed: Signed = require_role(INSPECTORS, write=True)):
    """A new plan from the form; its YAML is stored, to be edited like any other."""
    received = await request.form()
    form = {k: str(received.get(k, ""))[:200] for k in FORM_FIELDS}
    try:
        text = yaml.safe_dump(plan_from_form(form), allow_unicode=True, sort_keys=False)
        spec = parse_plan(text, "表单")
        Q.save_plan(engine, spec, text, signed.account, replace=False)
    except PlanError as problem:
        return render(
            request,
            "queue_plans.html.j2",
            signed,
            plans=Q.list_plans(engine),
            problems=problem.problems,
            form=form,
            error="",
            options=filter_options(engine, signed.account),
        )
    return back(f"/queue/plans/{quote(spec.id, safe='')}", signed, done="计划已保存")


def _plan_page(request: Request, signed: Signed, engine, name: str, text: str, problems=()):
    try:
        _, stored, active = Q.plan_text(engine, name)
        exists = True
    except NotFound:
        stored, active, exists = None, False, False
    today = _today(request)
    plans, _ = Q.progress(engine, signed.account, today)
    return render(
        request,
        "queue_plan.html.j2",
        signed,
        name=name,
        text=text if text is not None else stored,
        exists=exists,
        active=active,
        problems=list(problems),
        runs=Q.plan_runs(engine, name) if exists else [],
        progress=next((p for p in plans if p.plan == name), None),
        today=today,
    )


@router.get("/queue/plans/{name}", response_class=HTMLResponse, include_in_schema=False)
def plan_page(
    request: Request,
    name: PlanName,
    engine: DB,
    signed: Signed = require_role(OVERSEERS),
):
    name = _plan_name(name)
    try:
        _, text, _ = Q.plan_text(engine, name)
    except NotFound:
        text = EXAMPLE.format(name=name)
    return _plan_page(request, signed, engine, name, text)


@router.post("/queue/plans/{name}", response_class=HTMLResponse, include_in_schema=False)
def plan_save(
    request: Request,
    name: PlanName,
    engine: DB,
    plan_yaml: str = Form(..., max_length=20_000),
    signed: Signed = require_role(INSPECTORS, write=True),
):
    """Save the editor's YAML; an `id:` other than the page's saves (or creates) that plan."""
    name = _plan_name(name)
    try:
        spec = parse_plan(plan_yaml, f"{name}.yaml")
        Q.save_plan(engine, spec, plan_yaml, signed.account)
    except PlanError as problem:
        return _plan_page(request, signed, engine, name, plan_yaml, problem.problems)
    return back(f"/queue/plans/{quote(spec.id, safe='')}", signed, done="计划已保存")


def _summary_text(summary) -> str:
    picked = "、".join(f"{label} {n}" for label, n in summary.by_criterion.items())
    text = f"{summary.period}：候选 {summary.considered} 条，抽中 {summary.sampled} 条" + (
        f"（{picked}）" if picked else ""
    )
    text += f"；{summary.unassigned} 条没有可分配的质检员，请在复核进度页指派" if summary.unassigned else ""
    return text + (f"；本期此前已抽中 {summary.already} 条（候选只含其后导入的会话）" if summary.already else "")


@router.post("/queue/plans/{name}/run", include_in_schema=False)
def plan_run_form(
    request: Request,
    name: PlanName,
    engine: DB,
    day: Annotated[str, Form(max_length=10)] = "",
    first: Annotated[str, Form(max_length=10)] = "",
    last: Annotated[str, Form(max_length=10)] = "",
    signed: Signed = require_role(INSPECTORS, write=True),
):
    name = _plan_name(name)
    _, spec = Q.get_plan(engine, name)
    page = f"/queue/plans/{quote(name, safe='')}"
    try:
        day_, first_, last_ = (date.fromisoformat(v.strip()) if v.strip() else None for v in (day, first, last))
    except ValueError:
        return back(page, signed, error="日期应为 2026-12-05 这样的格式")
    try:
        period = _run_period(spec, day_, first_, last_, _today(request), request.app.state.tz)
        summary = run_plan(engine, name, period, _today(request), signed.account)
    except (PlanError, ValueError) as problem:  # the period's days reversed, the plan's inspectors gone
        return back(page, signed, error=str(problem))
    return back(page, signed, done=_summary_text(summary))


@router.post("/queue/plans/{name}/active", include_in_schema=False)
def plan_active_form(
    name: PlanName,
    engine: DB,
    active: Annotated[str, Form(max_length=5)] = "",
    signed: Signed = require_role(INSPECTORS, write=True),
):
    name = _plan_name(name)
    Q.set_plan_active(engine, signed.account, name, active == "1")
    return back(
        f"/queue/plans/{quote(name, safe='')}",
        signed,
        done="已启用" if active == "1" else "已停用（不再按周期自动抽样）",
    )


# --- 投诉预警 -----------------------------------------------------------------------------------------


@router.get("/alerts", response_class=HTMLResponse, include_in_schema=False)
def alerts_page(
    request: Request,
    engine: DB,
    status: Annotated[str, Query(max_length=10)] = "open",
    signed: Signed = require_role(OVERSEERS),
):
    status = status if status in ALERT_FILTERS else "open"
    return render(
        request,
        "alerts.html.j2",
        signed,
        alerts=Q.list_alerts(engine, signed.account, status),
        status=status,
        filters=ALERT_FILTERS,
        settings=A.settings(engine),
    )


@router.post("/alerts/{alert_id}/handle", include_in_schema=False)
def handle_form(alert_id: Id, engine: DB, note: Note = "", signed: Signed = require_role(OVERSEERS, write=True)):
    if not Q.handle_alert(engine, signed.account, alert_id, mask_text(note.strip())):
        return back("/alerts", signed, error=f"预警 {alert_id} 已经跟进过了")
    return back("/alerts")


@router.get("/alerts/settings", response_class=HTMLResponse, include_in_schema=False)
def alert_settings_page(request: Request, engine: DB, signed: Signed = require_role(ADMINS)):
    return render(
        request,
        "alert_settings.html.j2",
        signed,
        settings=A.settings(engine),
        webhooks=Q.list_webhooks(engine),
        log=Q.delivery_log(engine),
        states=Q.delivery_states(engine),
        options=filter_options(engine, signed.account),
    )


@router.post("/alerts/settings", include_in_schema=False)
def alert_settings_form(
    engine: DB,
    risk: Annotated[str, Form(max_length=10)] = "",
    rules: Annotated[str, Form(max_length=500)] = "",
    max_age_hours: Annotated[str, Form(max_length=10)] = "0",
    signed: Signed = require_role(ADMINS, write=True),
):
    try:
        value, hours = float(risk) / 100, int(max_age_hours or 0)
    except ValueError:
        return back("/alerts/settings", signed, error="投诉风险阈值应为 1 到 100 之间的数字（百分比），小时数应为整数")
    try:
        A.set_settings(engine, signed.account, value, _listed(rules), hours)
    except I.QueueError as problem:
        return back("/alerts/settings", signed, error=str(problem))
    return back("/alerts/settings", signed, done="预警设置已保存")


@router.post("/alerts/webhooks", include_in_schema=False)
def webhook_form(
    engine: DB,
    name: Short = "",
    team: Short = "",
    url: Annotated[str, Form(max_length=1000)] = "",
    template: Annotated[str, Form(max_length=20)] = "wecom",
    signed: Signed = require_role(ADMINS, write=True),
):
    try:
        A.add_webhook(engine, signed.account, name, team, url, template)
    except I.QueueError as problem:
        return back("/alerts/settings", signed, error=str(problem))
    return back("/alerts/settings", signed, done="推送地址已添加")


@router.post("/alerts/webhooks/{webhook_id}", include_in_schema=False)
def webhook_active_form(
    webhook_id: Id,
    engine: DB,
    active: Annotated[str, Form(max_length=5)] = "",
    signed: Signed = require_role(ADMINS, write=True),
):
    Q.set_webhook_active(engine, signed.account, webhook_id, active == "1")
    return back("/alerts/settings", signed, done="已启用" if active == "1" else "已停用")


@router.post("/alerts/deliveries/retry", include_in_schema=False)
def retry_form(engine: DB, signed: Signed = require_role(ADMINS, write=True)):
    count = Q.retry_failed(engine, signed.account)
    return back("/alerts/settings", signed, done=f"{count} 条推送失败的预警将重新推送")


# --- JSON -------------------------------------------------------------------------------------------


@router.get("/api/queue")
def queue_api(request: Request, engine: DB, signed: Signed = require_role(INSPECTORS)) -> dict:
    today = _today(request)
    return {
        "counts": asdict(Q.queue_counts(engine, signed.account, today)),
        "items": [asdict(i) for i in Q.queue_items(engine, signed.account, today, mine=True)],
    }


@router.get("/api/queue/team")
def team_api(request: Request, engine: DB, signed: Signed = require_role(OVERSEERS)) -> dict:
    today = _today(request)
    plans, workload = Q.progress(engine, signed.account, today)
    return {
        "plans": [asdict(p) for p in plans],
        "inspectors": [asdict(w) for w in workload],
        "open": [asdict(i) for i in Q.queue_items(engine, signed.account, today, limit=1000)],
    }


@router.get("/api/queue/plans")
def plans_api(engine: DB, signed: Signed = require_role(OVERSEERS)) -> list[dict]:
    return [asdict(p) for p in Q.list_plans(engine)]


class RunIn(BaseModel):
    day: Day = None  # the plan's period holding this day (default: the last complete one)
    first: Day = None  # or a custom period
    last: Day = None
    seed: Annotated[int, Field(ge=0, le=2**31 - 1)] | None = None


@router.post("/api/queue/plans/{name}/run")
def run_api(
    request: Request, name: PlanName, body: RunIn, engine: DB, signed: Signed = require_role(INSPECTORS, write=True)
) -> dict:
    _, spec = Q.get_plan(engine, _plan_name(name))
    try:
        period = _run_period(spec, body.day, body.first, body.last, _today(request), request.app.state.tz)
        return asdict(run_plan(engine, name, period, _today(request), signed.account, seed=body.seed))
    except (PlanError, ValueError) as problem:
        raise HTTPException(400, str(problem)) from None


@router.post("/api/queue/items/{item_id}/done")
def done_api(item_id: Id, engine: DB, signed: Signed = require_role(INSPECTORS, write=True)) -> dict:
    I.complete(engine, signed.account, item_id)
    return {"ok": True}


class SkipIn(BaseModel):
    skip_reason: Annotated[str, Field(max_length=30)]
    comment: Annotated[str, Field(max_length=500)] = ""


@router.post("/api/queue/items/{item_id}/skip")
def skip_api(item_id: Id, body: SkipIn, engine: DB, signed: Signed = require_role(OVERSEERS, write=True)) -> dict:
    I.skip(engine, signed.account, item_id, body.skip_reason, body.comment)
    return {"ok": True}


class ReassignIn(BaseModel):
    inspector: Annotated[str, Field(max_length=100)]


@router.post("/api/queue/items/{item_id}/reassign")
def reassign_api(
    request: Request, item_id: Id, body: ReassignIn, engine: DB, signed: Signed = require_role(OVERSEERS, write=True)
) -> dict:
    I.reassign(engine, signed.account, item_id, body.inspector, _today(request))
    return {"ok": True}


@router.get("/api/queue/precision")
def precision_api(
    engine: DB, plan: Annotated[str, Query(max_length=50)] = "", signed: Signed = require_role(OVERSEERS)
) -> list[dict]:
    return [
        {"rule": f.rule, "random": f.random.model_dump(), "targeted": f.targeted.model_dump()}
        for f in precision_by_share(engine, plan or None)
    ]


@router.get("/api/alerts")
def alerts_api(
    engine: DB,
    status: Annotated[str, Query(max_length=10)] = "open",
    limit: Annotated[int, Query(ge=0, le=1000)] = 200,
    signed: Signed = require_role(OVERSEERS),
) -> dict:
    """The open count (what the 投诉预警 page polls with `limit=0`) and the alerts of `status`."""
    status = status if status in ALERT_FILTERS else "open"
    return {
        "open": Q.open_alert_count(engine, signed.account),
        "items": [asdict(a) for a in Q.list_alerts(engine, signed.account, status, limit)] if limit else [],
    }
