"""Errors as people read them: a Chinese HTML page for a browser, JSON with a Chinese `detail`
for the API (`/api/…`, or any client that does not ask for HTML)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
}
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


def wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get("accept", "")


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
