"""Errors as people read them: a Chinese HTML page for a browser, JSON with a Chinese `detail`
for the API (`/api/…`, or any client that does not ask for HTML)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response

FIELDS = {
    "page": "页码",
    "per_page": "每页条数",
    "campaign": "外呼活动",
    "score_min": "最低分",
    "score_max": "最高分",
    "risk_min": "投诉风险",
    "date_from": "开始日期",
    "date_to": "结束日期",
    "limit": "条数",
    "result_id": "评分结果编号",
    "appeal_id": "申诉编号",
    "job_id": "上传任务编号",
    "difficulty": "难度",
    "seed": "随机种子",
    "user_id": "用户编号",
    "rule": "规则",
    "verdict": "复核结论",
    "reason": "申诉理由",
    "username": "用户名",
    "password": "密码",
    "role": "角色",
    "files": "文件",
    "text": "内容",
    "yaml": "评分表内容",
    # every other parameter of a route (tests/test_web_roles.py checks that each has a name)
    "accept": "是否采纳",
    "action": "操作",
    "after": "下一页位置",
    "before": "上一页位置",
    "after_from": "培训后开始日期",
    "after_to": "培训后结束日期",
    "before_from": "培训前开始日期",
    "before_to": "培训前结束日期",
    "agent_id": "坐席工号",
    "analysis": "案例分析",
    "best_solutions": "最佳话术",
    "body": "请求内容",
    "case": "培训案例",
    "case_id": "案例编号",
    "channel": "渠道",
    "conversation": "会话",
    "customer_id": "客户编号",
    "decision": "处理结论",
    "description": "案例描述",
    "display_name": "显示名",
    "drill_id": "演练编号",
    "start": "开始日期",
    "end": "结束日期",
    "escalation_turn": "升级所在的句子",
    "facts": "案例事实",
    "failed_rule": "未通过规则",
    "guide": "引导问答",
    "id": "编号",
    "key": "会话",
    "kind": "类型",
    "need": "客户诉求",
    "new": "新名称",
    "next": "登录后前往的页面",
    "outcome": "结果",
    "persona": "客户画像",
    "q": "搜索内容",
    "resolution": "解决方案",
    "reveal": "显示解析",
    "round": "校准轮次",
    "round_name": "校准轮次",
    "save_as": "另存为",
    "scorecard": "评分表",
    "sort": "排序",
    "tag": "标签",
    "tags": "标签",
    "title": "标题",
    "which": "导出内容",
    "who": "人员",
}
# What Starlette and FastAPI answer, in English, to a body they cannot read.
BODY_UNREADABLE = "请求内容无法解析：不是有效的 JSON 或表单，或嵌套太深"
FORM_UNREADABLE = "上传的表单无法解析：内容不完整或格式不对，或文件名太长"
FRAMEWORK_DETAILS = (
    ("There was an error parsing the body", BODY_UNREADABLE),  # FastAPI: JSON nested past Python's limit, and the like
    ("Invalid multipart data", FORM_UNREADABLE),  # Starlette's multipart parser (a 5,000-character file name too)
    ("Missing boundary in multipart", FORM_UNREADABLE),
    ("The Content-Disposition header", FORM_UNREADABLE),
    ("Too many files", "一次上传的文件太多"),
    ("Too many fields", "表单的项太多"),
    ("Field exceeded maximum size", "表单中有一项太大"),
    ("Part exceeded maximum size", "表单中有一项太大"),
)
_CHINESE = re.compile(r"[\u3400-\u9fff]")
PROBLEMS = {
    "missing": "必须填写",
    "int_parsing": "应为整数",
    "int_type": "应为整数",
    "float_parsing": "应为数字",
    "float_type": "应为数字",
    "finite_number": "应为数字",
    "date_parsing": "应为日期（如 2026-12-05）",
    "date_from_datetime_parsing": "应为日期（如 2026-12-05）",
    "bool_parsing": "应为是或否",
    "string_type": "应为文字",
    "string_too_long": "太长",
    "string_too_short": "太短",
    "json_invalid": "不是有效的 JSON",
    "model_attributes_type": "格式不对",
    "dict_type": "格式不对",
    "list_type": "应为列表",
}
STATUS_TITLES = {
    400: "请求有误",
    401: "请先登录",
    403: "没有权限",
    404: "没有找到",
    405: "不支持的操作",
    409: "操作冲突",
    413: "内容太大",
    422: "输入有误",
    429: "操作太频繁",
}


def chinese_detail(status: int, detail: Any) -> Any:
    """An HTTPException's detail as people read it: Starlette's and FastAPI's English (the status phrase, a body
    that does not parse, a bad multipart form) in Chinese, or None for the status's own title (any other English);
    ours as it is."""
    if not isinstance(detail, str):
        return detail  # a mapping (a scorecard's problems) the API's client reads
    if detail == HTTPStatus(status).phrase:
        return None
    if _CHINESE.search(detail):
        return detail
    for start, chinese in FRAMEWORK_DETAILS:
        if detail.startswith(start):
            return chinese
    return None


# API downloads the pages link to (the list's 导出): a browser follows the link, so its error must be a page too
BROWSED_API = ("/api/export.",)


def wants_html(request: Request) -> bool:
    path = request.url.path
    browsed = not path.startswith("/api/") or path.startswith(BROWSED_API)
    return browsed and "text/html" in request.headers.get("accept", "")


def _problem(error: Mapping[str, Any]) -> str:
    kind, ctx = error.get("type", ""), error.get("ctx") or {}
    if kind in ("less_than_equal", "less_than"):
        return f"不能大于 {ctx.get('le', ctx.get('lt'))}"
    if kind in ("greater_than_equal", "greater_than"):
        return f"不能小于 {ctx.get('ge', ctx.get('gt'))}"
    return PROBLEMS.get(kind, "格式不对")


def validation_message(errors: Sequence[Mapping[str, Any]]) -> str:
    """One Chinese sentence for pydantic's errors: which field (by its Chinese label) and what is wrong."""
    parts = []
    for error in errors:
        names = [x for x in error.get("loc", ()) if isinstance(x, str) and x not in ("query", "path", "body", "form")]
        field = FIELDS.get(names[-1], names[-1]) if names else "请求"
        parts.append(f"{field}{_problem(error)}")
    return "输入有误：" + "；".join(dict.fromkeys(parts))


def error_response(
    request: Request,
    status: int,
    message,
    errors: Sequence[Mapping[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    if wants_html(request):
        from zuoxi.web.pages import render
        from zuoxi.web.security import signed_in

        text = message if isinstance(message, str) else STATUS_TITLES.get(status, "出错了")
        response = render(
            request,
            "error.html.j2",
            signed_in(request),
            title=STATUS_TITLES.get(status, "出错了"),
            status=status,
            message=text,
        )
        response.status_code = status
        return response
    body = {"detail": message if message is not None else STATUS_TITLES.get(status, "出错了")}
    if errors:
        body["errors"] = [{"loc": list(e.get("loc", ())), "type": e.get("type"), "msg": _problem(e)} for e in errors]
    return JSONResponse(body, status_code=status, headers=headers)
