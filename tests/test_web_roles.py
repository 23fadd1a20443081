"""One permission table, checked on every route: each route of the app declares its roles with
`require_role` (sign-in alone is public), and a request as each role, and as nobody, gets what the
declaration says: 401 signed out, 403 outside the roles, neither inside them."""

from __future__ import annotations

import re

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient

from zuoxi.store import Store
from zuoxi.store.users import ADMINS, AGENTS, ANYONE, INSPECTORS, OVERSEERS, ROLES, add_user
from zuoxi.web import create_app

PASSWORD = "correct-horse"
PUBLIC = {("GET", "/login"), ("POST", "/login"), ("POST", "/api/login")}
USERS = {
    "admin": ("admin", None, None),
    "inspector": ("inspector", None, None),
    "team_lead": ("team_lead", "售后二组", None),
    "agent": ("agent", None, "07"),
}
# Who may use what, as the README's role table says; every other route is for anyone signed in.
RESTRICTED = {
    ("POST", "/api/appeals/{appeal_id}/resolve"): OVERSEERS,
    ("POST", "/appeals/{appeal_id}/resolve"): OVERSEERS,
    ("POST", "/api/results/{result_id}/appeals"): AGENTS,
    ("POST", "/conversations/{key}/appeal"): AGENTS,
    ("POST", "/api/results/{result_id}/reviews"): INSPECTORS,
    ("POST", "/conversations/{key}/review"): INSPECTORS,
    ("GET", "/api/calibration/{round_name}"): OVERSEERS,
    ("GET", "/calibration"): OVERSEERS,
    ("POST", "/api/calibration/{round_name}"): INSPECTORS,
    ("GET", "/calibration/{round_name}/{key}"): INSPECTORS,
    ("POST", "/calibration/{round_name}/{key}"): INSPECTORS,
    ("GET", "/api/campaigns"): OVERSEERS,
    ("GET", "/api/campaigns/{name}"): OVERSEERS,
    ("GET", "/campaigns"): OVERSEERS,
    ("POST", "/api/campaigns/{name}/customers/{customer_id}/dial"): AGENTS,
    ("GET", "/calls"): AGENTS,  # 我的外呼: the queue of the agent signed in
    ("GET", "/api/calls"): AGENTS,
    ("GET", "/api/rule-precision"): OVERSEERS,
    ("GET", "/quality"): OVERSEERS,
    ("PUT", "/api/scorecards/{name}"): INSPECTORS,
    ("POST", "/scorecards/{name}"): INSPECTORS,
    ("POST", "/api/scorecards/{name}/rescore"): INSPECTORS,
    ("POST", "/scorecards/{name}/rescore"): INSPECTORS,
    ("GET", "/api/training/candidates"): INSPECTORS,
    ("POST", "/api/training/candidates/{key}/promote"): INSPECTORS,
    ("GET", "/training/promote/{key}"): INSPECTORS,
    ("POST", "/training/promote/{key}"): INSPECTORS,
    ("POST", "/api/uploads"): INSPECTORS,  # the README's table: uploading is an inspector's; a team lead
    # uploading could file conversations under another team, or point one at another team's recording
    ("GET", "/api/uploads/{job_id}"): INSPECTORS,
    ("GET", "/upload"): INSPECTORS,
    ("GET", "/api/effects"): OVERSEERS,
    ("GET", "/api/effects/agents/{agent_id:path}"): OVERSEERS,
    ("GET", "/api/effects/training"): OVERSEERS,
    ("GET", "/effects"): OVERSEERS,
    ("GET", "/effects/agents/{agent_id:path}"): OVERSEERS,
    ("GET", "/effects/training"): OVERSEERS,
    ("GET", "/queue"): INSPECTORS,
    ("GET", "/api/queue"): INSPECTORS,
    ("GET", "/queue/team"): OVERSEERS,
    ("GET", "/api/queue/team"): OVERSEERS,
    ("GET", "/queue/plans"): OVERSEERS,
    ("POST", "/queue/plans"): INSPECTORS,
    ("GET", "/api/queue/plans"): OVERSEERS,
    ("GET", "/queue/plans/{name}"): OVERSEERS,
    ("POST", "/queue/plans/{name}"): INSPECTORS,
    ("POST", "/queue/plans/{name}/run"): INSPECTORS,
    ("POST", "/api/queue/plans/{name}/run"): INSPECTORS,
    ("POST", "/queue/plans/{name}/active"): INSPECTORS,
    ("POST", "/queue/items/{item_id}/done"): INSPECTORS,
    ("POST", "/api/queue/items/{item_id}/done"): INSPECTORS,
    ("POST", "/queue/items/{item_id}/skip"): OVERSEERS,
    ("POST", "/api/queue/items/{item_id}/skip"): OVERSEERS,
    ("POST", "/queue/items/{item_id}/reassign"): OVERSEERS,
    ("POST", "/api/queue/items/{item_id}/reassign"): OVERSEERS,
    ("GET", "/api/queue/precision"): OVERSEERS,
    ("GET", "/alerts"): OVERSEERS,
    ("GET", "/api/alerts"): OVERSEERS,
    ("POST", "/alerts/{alert_id}/handle"): OVERSEERS,
    ("GET", "/alerts/settings"): ADMINS,
    ("POST", "/alerts/settings"): ADMINS,
    ("POST", "/alerts/webhooks"): ADMINS,
    ("POST", "/alerts/webhooks/{webhook_id}"): ADMINS,
    ("POST", "/alerts/deliveries/retry"): ADMINS,
    ("GET", "/api/audit"): ADMINS,
    ("GET", "/audit"): ADMINS,
    ("GET", "/api/users"): ADMINS,
    ("POST", "/api/users"): ADMINS,
    ("PUT", "/api/users/{user_id}"): ADMINS,
    ("POST", "/api/users/{user_id}/password"): ADMINS,
    ("GET", "/users"): ADMINS,
    ("POST", "/users"): ADMINS,
    ("POST", "/users/{user_id}"): ADMINS,
    ("POST", "/users/{user_id}/password"): ADMINS,
}
# Path parameters naming nothing that exists: an allowed role gets past the permission check and
# then a 404 or 422, never someone else's data.
VALUES = {
    "key": "0" * 64,
    "name": "nope",
    "round_name": "r0",
    "case_id": "nope",
    "drill_id": "nope",
    "session_id": "s",
    "kind": "csv",
    "user_id": "2147483647",
    "result_id": "2147483647",
    "appeal_id": "2147483647",
    "job_id": "2147483647",
    "customer_id": "2147483647",
    "agent_id": "nobody",
    "item_id": "2147483647",
    "alert_id": "2147483647",
    "webhook_id": "2147483647",
}


def declared(route: APIRoute):
    """The `require_role` dependency of a route (its `roles` and `write`), or None."""
    found = [d.call for d in route.dependant.dependencies if hasattr(d.call, "roles")]
    assert len(found) <= 1, route.path
    return found[0] if found else None


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    db = str(tmp_path_factory.mktemp("roles") / "roles.db")
    store = Store(db)
    for name, (role, team, agent_id) in USERS.items():
        add_user(store.engine, name, PASSWORD, role, team, agent_id)
    store.close()
    return create_app(db, models=False)


def routes(app) -> list[tuple[str, str, APIRoute]]:
    """(method, full path, route) of every HTTP route, the included routers' too."""
    return [
        (method, context.path, context.original_route)
        for context in iter_route_contexts(app.routes)
        if isinstance(context.original_route, APIRoute)
        for method in context.methods
    ]


def test_every_route_declares_its_roles(app):
    undeclared = [(m, p) for m, p, route in routes(app) if declared(route) is None and (m, p) not in PUBLIC]
    assert undeclared == []
    for method, path, route in routes(app):
        if (check := declared(route)) is not None:
            assert check.roles == RESTRICTED.get((method, path), ANYONE), f"{method} {path}"
            assert check.write == (method != "GET"), f"{method} {path}: a change needs the CSRF token, a read does not"


def test_every_parameter_of_every_route_has_a_chinese_name(app):
    """A 422 names the parameter it refuses as `zuoxi.web.errors.FIELDS` names it: one left out stood in English
    ("after格式不对", "start不能小于 1900-01-01"). Every query, path, form and body parameter, and every field of a
    body or query model, has a name there (a model parameter's own name never shows: its fields' names do)."""
    import typing

    from pydantic import BaseModel

    from zuoxi.web.errors import FIELDS

    def model(annotation) -> type[BaseModel] | None:
        found = [a for a in (annotation, *typing.get_args(annotation)) if isinstance(a, type)]
        return next((a for a in found if issubclass(a, BaseModel)), None)

    unnamed: dict[str, set[str]] = {}

    def fields(of: type[BaseModel], where: str, seen: set) -> None:
        if of in seen:
            return
        seen.add(of)
        for name, info in of.model_fields.items():
            if (info.alias or name) not in FIELDS:
                unnamed.setdefault(info.alias or name, set()).add(where)
            for inner in (info.annotation, *typing.get_args(info.annotation)):
                if (nested := model(inner)) is not None:
                    fields(nested, where, seen)

    def walk(dependant, where: str) -> None:
        for param in (*dependant.query_params, *dependant.path_params, *dependant.body_params):
            if (of := model(param.field_info.annotation)) is not None:
                fields(of, where, set())
            elif param.alias not in FIELDS:
                unnamed.setdefault(param.alias, set()).add(where)
        for inner in dependant.dependencies:
            walk(inner, where)

    for method, path, route in routes(app):
        walk(route.dependant, f"{method} {path}")
    assert not unnamed, unnamed
    assert all(not label.isascii() for label in FIELDS.values())


def request(client: TestClient, method: str, path: str, csrf: str = ""):
    url = re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: VALUES[m.group(1)], path)
    headers = {"X-CSRF-Token": csrf, "accept": "application/json"}
    if method == "GET":
        return client.get(url, headers=headers)
    return client.request(method, url, headers=headers, json={})


def signed_in(app, role: str | None) -> tuple[TestClient, str]:
    client = TestClient(app)
    if role is None:
        return client, ""
    return client, client.post("/api/login", json={"username": role, "password": PASSWORD}).json()["csrf_token"]


@pytest.mark.parametrize("role", [None, *ROLES])
def test_each_route_answers_each_role_as_declared(app, role):
    client, csrf = signed_in(app, role)
    checked = 0
    for method, path, route in routes(app):
        check = declared(route)
        if check is None:
            continue
        # Signing out ends the session it is sent in: it gets a session of its own.
        own, own_csrf = signed_in(app, role) if path.endswith("/logout") else (client, csrf)
        status = request(own, method, path, own_csrf).status_code
        where = f"{role} {method} {path}: {status}"
        if role is None:
            assert status == 401, where
        elif role not in check.roles:
            assert status == 403, where
        else:
            assert status not in (401, 403, 500), where
        checked += 1
    assert checked > 60


def test_a_write_without_the_csrf_token_is_refused(app):
    client = TestClient(app)
    client.post("/api/login", json={"username": "admin", "password": PASSWORD})
    for method, path, route in routes(app):
        if (check := declared(route)) is not None and check.write:
            assert request(client, method, path).status_code == 403, path


def test_the_templates_use_the_same_groups(app):
    """Menus and forms show what the routes allow: the agent's menu has no link to a page it may not open."""
    client = TestClient(app)
    client.post("/api/login", json={"username": "agent", "password": PASSWORD})
    menu = client.get("/", headers={"accept": "text/html"}).text.split("<main>")[0]
    for link in re.findall(r'<a href="(/[^"?]*)"', menu):
        assert client.get(link, headers={"accept": "text/html"}).status_code == 200, link
