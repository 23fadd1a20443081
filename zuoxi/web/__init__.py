"""The web app for QA inspectors, team leads and agents (`zuoxi serve`).

    from zuoxi.web import create_app
    app = create_app("sqlite:///zuoxi.db")      # FastAPI; OpenAPI docs at /docs (signed in)

Pages are server-rendered (`pages.py`, templates in `templates/`, their scripts in `static/`);
the JSON API is `api.py`. Both call the same domain functions, which enforce each role's scope.
"""

from __future__ import annotations

import gc
import os
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypedDict
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from zuoxi.analyze.models import load_models
from zuoxi.coaching.library import CaseLibrary
from zuoxi.engines.live import LiveSessions
from zuoxi.review import ReviewError
from zuoxi.store import Store
from zuoxi.store.queries import Forbidden, NotFound
from zuoxi.store.users import ANYONE
from zuoxi.web.assist import TurnBudget
from zuoxi.web.coaching import Drills
from zuoxi.web.jobs import Importer
from zuoxi.web.scorecards import ScorecardLibrary
from zuoxi.web.security import BodyLimit, LoginLimiter, SecurityHeaders, require_role

STATIC = Path(__file__).resolve().parent / "static"
MAX_UPLOAD = 20 << 20  # bytes of one request body (all files of an upload together)


def create_app(
    db: str | None = None,
    models: bool = True,
    recordings: str | Path | None = None,
    max_upload: int = MAX_UPLOAD,
    timezone: str | None = None,
    redis: str | None = None,
) -> FastAPI:
    """`recordings`: the folder call recordings are served from (nothing outside it, nothing at all
    when None); `max_upload`: the largest request body accepted, in bytes (413 beyond); `timezone`:
    the one times are shown and dates filtered in (else $ZUOXI_TZ, else Asia/Shanghai); `redis`: the
    URL of the Redis that server processes share live sessions and sign-in limits through (else this
    process keeps them; key prefix $ZUOXI_REDIS_PREFIX, else "zuoxi:")."""
    store = Store(db)
    # FastAPI's own /docs, /redoc and /openapi.json would be public and /docs inline its script:
    # they are served below, for signed-in users, from static/.
    app = FastAPI(
        title="zuoxi",
        description="坐席质检: review, appeal, dashboards",
        version="0.1.0",
        lifespan=_lifespan(store, models),
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    _set_state(app, store, models, recordings, timezone, redis)
    app.add_middleware(BodyLimit, limit=max_upload)
    app.add_middleware(SecurityHeaders)
    _add_error_handlers(app)
    _add_routes(app)
    return app


def _lifespan(store: Store, models: bool):
    """What the server does as it starts and stops: load the models, start the background worker, and on
    the way out stop it and the importer."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if models:
            load_models()  # a third of a second, paid at start rather than by the first upload or live turn
        gc.freeze()  # what is loaded by now lives as long as the server: keep it out of every full collection
        from zuoxi.queues.worker import Worker  # alert deliveries and scheduled sampling (issue 24)

        worker = Worker(store.engine, app.state.tz)
        worker.start()
        yield
        worker.stop()
        app.state.importer.shutdown()

    return lifespan


def _set_state(
    app: FastAPI, store: Store, models: bool, recordings: str | Path | None, timezone: str | None, redis: str | None
) -> None:
    """The app's shared objects; live sessions and sign-in limits in Redis when one is given, so that every
    server process sees the same."""
    app.state.store = store
    app.state.limiter = LoginLimiter()
    app.state.live = LiveSessions()
    app.state.turn_budget = TurnBudget()
    if redis:
        from zuoxi.web.shared import RedisLoginLimiter, SharedLiveSessions, connect

        client, prefix = connect(redis), os.environ.get("ZUOXI_REDIS_PREFIX") or "zuoxi:"
        app.state.limiter, app.state.live = RedisLoginLimiter(client, prefix), SharedLiveSessions(client, prefix)
    app.state.scorecards = ScorecardLibrary(store)
    app.state.cases = CaseLibrary(store)
    app.state.drills = Drills()
    app.state.models = models
    app.state.recordings = Path(recordings).resolve() if recordings else None
    app.state.importer = Importer(store, models=models, recordings=app.state.recordings)
    app.state.tz = ZoneInfo(timezone or os.environ.get("ZUOXI_TZ") or "Asia/Shanghai")


def _add_error_handlers(app: FastAPI) -> None:
    """Domain errors as their HTTP status, each answered as a page or as JSON as the request wants; a page
    that needs signing in sends the browser to the login page and back."""
    from zuoxi.web.errors import chinese_detail, error_response, validation_message, wants_html

    @app.exception_handler(NotFound)
    async def not_found(request: Request, error: NotFound):
        return error_response(request, 404, "没有找到要访问的内容")

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, error: Forbidden):
        return error_response(request, 403, "没有权限查看或修改这项内容")

    @app.exception_handler(ReviewError)
    async def bad_review(request: Request, error: ReviewError):
        return error_response(request, 400, str(error))

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, error: RequestValidationError):
        return error_response(request, 422, validation_message(error.errors()), errors=error.errors())

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException):
        if error.status_code == 401 and wants_html(request):
            return RedirectResponse(f"/login?{urlencode({'next': request.url.path})}", status_code=303)
        # Starlette's and FastAPI's own errors (an unknown URL, a wrong method, a body that does not parse) are
        # English: said in Chinese, or by the page's title.
        return error_response(
            request, error.status_code, chinese_detail(error.status_code, error.detail), headers=error.headers
        )


def _add_routes(app: FastAPI) -> None:
    """The API, the pages and the static files, in matching order (the pages' catch-alls come last)."""
    from zuoxi.web import api, assist, calls, campaigns, coaching, pages

    @app.get("/openapi.json", include_in_schema=False, dependencies=[require_role(ANYONE)])
    def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    app.include_router(api.router)
    app.include_router(coaching.router)
    app.include_router(campaigns.router)
    app.include_router(calls.router)  # 我的外呼: an agent's campaign queue
    app.include_router(assist.router)
    from zuoxi.web.effects import router as effects_router  # 技能价值 (issue 23)

    app.include_router(effects_router)
    from zuoxi.web.queues import router as queues_router  # 抽检与复核, 投诉预警 (issue 24)

    app.include_router(queues_router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")


SERVE_SETTINGS = "ZUOXI_SERVE"  # create_app's arguments as JSON, for worker processes (`zuoxi serve --workers`)


class ServeSettings(TypedDict):
    """`create_app`'s arguments as `zuoxi serve` passes them (JSON-ready: the workers read them back)."""

    db: str | None
    models: bool
    recordings: str | None
    max_upload: int
    timezone: str | None
    redis: str | None


def app_from_environment() -> FastAPI:
    """The app of `zuoxi serve --workers N`: each worker process builds it from the settings the
    command left in the environment."""
    import json

    return create_app(**json.loads(os.environ[SERVE_SETTINGS]))
