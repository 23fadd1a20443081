"""Sign-in, CSRF, login rate limiting and the HTTP hardening of every response.

- The session cookie is HttpOnly and SameSite=Lax (Secure when served over HTTPS).
- Every state-changing request must carry the session's CSRF token, as the `X-CSRF-Token`
  header (API) or a `csrf_token` form field (pages).
- Five failed logins for one username from one address within 15 minutes lock that pair out
  for the rest of the window (HTTP 429). A username counts with its twins by case or width
  (`username_key`), as any of them signs in as the same user.
- Every response carries a strict Content-Security-Policy (scripts and styles only from this
  server's /static, never inline), nosniff, no framing and no referrer to other sites.
- A request body larger than the upload limit is refused with 413 while it streams in.
- The message a page shows after a form (`error`, `done` in the query of the redirect) is sealed for the session
  (`seal`): a link made anywhere else (`/login?error=账号已冻结，请致电…`) shows none.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from threading import Lock

from fastapi import Depends, HTTPException, Request
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from zuoxi.model import without_nul
from zuoxi.store.users import Account, authenticate, session_account, username_key

COOKIE = "zuoxi_session"
MAX_FAILURES = 5
WINDOW_SECONDS = 15 * 60


@dataclass
class Signed:
    account: Account
    csrf: str


class LoginLimiter:
    """Sign-in attempts per (address, username) in a sliding window, counted before the password is checked (so
    attempts sent at once cannot all pass before the first failure is counted) and forgotten on success; in memory,
    per process."""

    def __init__(self, max_failures: int = MAX_FAILURES, window: float = WINDOW_SECONDS):
        self.max_failures, self.window = max_failures, window
        self._failures: dict[tuple[str, str], deque[float]] = defaultdict(deque)
        self._lock = Lock()

    def _recent(self, key: tuple[str, str]) -> deque[float]:
        times = self._failures[key]
        while times and times[0] < time.monotonic() - self.window:
            times.popleft()
        return times

    def attempt(self, address: str, username: str) -> bool:
        """Count one attempt; False (and not counted) when the window holds its most already."""
        with self._lock:
            times = self._recent((address, username))
            if len(times) >= self.max_failures:
                return False
            times.append(time.monotonic())
            return True

    def succeeded(self, address: str, username: str) -> None:
        with self._lock:
            self._failures.pop((address, username), None)


class LoginRefused(Exception):
    """A sign-in that did not succeed: `blocked` when the rate limit refused it before checking."""

    def __init__(self, blocked: bool):
        super().__init__("too many failed sign-ins" if blocked else "wrong username or password")
        self.blocked = blocked


def check_login(request: Request, username: str, password: str) -> Account:
    """The account for these credentials, counted against the login rate limit; LoginRefused otherwise."""
    limiter: LoginLimiter = request.app.state.limiter
    address = request.client.host if request.client else "?"
    username = without_nul(username)  # as the store compares it: `ad\0min` is admin, and counts as admin
    counted = username_key(username.strip())  # ADMIN and ａｄｍｉｎ sign in as admin: they count as admin too
    if not limiter.attempt(address, counted):
        raise LoginRefused(blocked=True)
    account = authenticate(request.app.state.store.engine, username, password)
    if account is None:
        raise LoginRefused(blocked=False)
    limiter.succeeded(address, counted)
    return account


def signed_in(request: HTTPConnection) -> Signed | None:
    """The signed-in user of a request or a WebSocket, or None."""
    found = session_account(request.app.state.store.engine, request.cookies.get(COOKIE))
    return Signed(*found) if found else None


def require_user(request: Request) -> Signed:
    """The signed-in user, or 401."""
    signed = signed_in(request)
    if signed is None:
        raise HTTPException(401, "请先登录")
    return signed


def has_role(signed: Signed, roles: frozenset[str]) -> bool:
    """Whether the signed-in user's role is in `roles` (a group of `zuoxi.store.users`): what `require_role` checks
    of a route, for a permission within one (what a WebSocket message may do)."""
    return signed.account.role in roles


def require_role(roles: frozenset[str], write: bool = False):
    """A route's permission, as a FastAPI dependency: the signed-in user (401 otherwise) whose role
    is in `roles`, one of the groups of `zuoxi.store.users` (403 otherwise), carrying the session's
    CSRF token when the route changes something (`write`). Every route but sign-in declares one;
    tests/test_web_roles.py requests each route as each role against the `roles` it declares."""

    async def signed_with_role(request: Request) -> Signed:
        signed = require_user(request)
        if not has_role(signed, roles):
            raise HTTPException(403, "你的角色不能使用这项功能")
        if write:
            await check_csrf(request, signed)
        return signed

    # What tests/test_web_roles.py reads. Attributes of a function, which mypy cannot type: FastAPI
    # needs a function here, whose __globals__ resolve the postponed annotations (a class instance has none).
    signed_with_role.roles = roles  # type: ignore[attr-defined]
    signed_with_role.write = write  # type: ignore[attr-defined]
    return Depends(signed_with_role)


async def check_csrf(request: Request, signed: Signed) -> None:
    """403 unless the request carries this session's CSRF token (header or form field)."""
    token = request.headers.get("x-csrf-token")
    if token is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        field = (await request.form()).get("csrf_token")
        token = field if isinstance(field, str) else None  # an uploaded file is no token
    if not token or not hmac.compare_digest(str(token), signed.csrf):
        raise HTTPException(403, "页面已过期或来源不明（CSRF 校验失败），请刷新后重试")


def seal(csrf: str, error: str, done: str) -> str:
    """The seal of a message a redirect carries in its query for the session whose CSRF token is `csrf`: an HMAC
    under a key made from that token, which no one else knows, so that only this server, for this session, can
    make a page show a message."""
    key = hmac.new(csrf.encode(), b"zuoxi page message", hashlib.sha256).digest()
    return hmac.new(key, json.dumps([error, done], ensure_ascii=False).encode(), hashlib.sha256).hexdigest()[:32]


def notices(request: HTTPConnection, signed: Signed | None) -> tuple[str, str]:
    """(error, done): the message of the request's query when its seal is this session's; ("", "") otherwise (no
    session, no seal, or text someone else put in a link)."""
    query = request.query_params
    error, done, sealed = query.get("error", ""), query.get("done", ""), query.get("sig", "")
    if signed is None or not sealed or not (error or done):
        return "", ""
    sealed_here = seal(signed.csrf, error, done).encode()
    return (error, done) if hmac.compare_digest(sealed.encode(), sealed_here) else ("", "")


CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
]


class SecurityHeaders:
    """Adds SECURITY_HEADERS to every HTTP response: with no inline script allowed anywhere, an
    injection that got past escaping still cannot run."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers)


class TooLarge(HTTPException):
    """An HTTPException, so that FastAPI's body parsing passes it on as 413 instead of a 400."""

    def __init__(self, limit: int):
        size = f"{limit >> 20} MB" if limit >= 1 << 20 else f"{max(1, limit >> 10)} KB"
        super().__init__(413, f"上传内容超过 {size} 的上限")


class BodyLimit:
    """Refuses request bodies over `limit` bytes: at once when Content-Length says so, otherwise
    as soon as the streamed bytes pass it, before the rest is read or spooled."""

    def __init__(self, app: ASGIApp, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
                raise TooLarge(self.limit)
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise TooLarge(self.limit)
            return message

        await self.app(scope, counted, send)
