"""The web app for QA inspectors, team leads and agents (`zuoxi serve`).

    from zuoxi.web import create_app
    app = create_app("sqlite:///zuoxi.db")      # FastAPI; OpenAPI docs at /docs

Pages are server-rendered (`pages.py`, templates in `templates/`); the JSON API is `api.py`.
Both call the same domain functions, which enforce each role's scope.
"""

from __future__ import annotations

import gc
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from zuoxi.analyze.models import load_models
from zuoxi.engines.live import LiveSessions
from zuoxi.review import ReviewError
from zuoxi.store import Store
from zuoxi.store.queries import Forbidden, NotFound
from zuoxi.training.library import CaseLibrary
from zuoxi.web.jobs import Importer
from zuoxi.web.scorecards import ScorecardLibrary
from zuoxi.web.security import LoginLimiter
from zuoxi.web.training import Drills

STATIC = Path(__file__).resolve().parent / "static"


def create_app(db: str | None = None, models: bool = True) -> FastAPI:
    store = Store(db)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if models:
            load_models()  # a third of a second, paid at start rather than by the first upload or live turn
        gc.freeze()  # what is loaded by now lives as long as the server: keep it out of every full collection
        yield
        app.state.importer.shutdown()

    # FastAPI's own /docs and /redoc load their scripts from a CDN; /docs is served below from static/.
    app = FastAPI(title="zuoxi", description="坐席质检: review, appeal, dashboards", version="0.1.0", lifespan=lifespan,
                  docs_url=None, redoc_url=None)
    app.state.store = store
    app.state.limiter = LoginLimiter()
    app.state.importer = Importer(store, models=models)
    app.state.scorecards = ScorecardLibrary(store)
    app.state.cases = CaseLibrary(store)
    app.state.drills = Drills()
    app.state.live = LiveSessions()
    app.state.models = models

    def wants_html(request: Request) -> bool:
        return not request.url.path.startswith("/api/") and "text/html" in request.headers.get("accept", "")

    @app.exception_handler(NotFound)
    async def not_found(request: Request, error: NotFound):
        return JSONResponse({"detail": f"not found: {error}"}, status_code=404)

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, error: Forbidden):
        return JSONResponse({"detail": f"forbidden: {error}"}, status_code=403)

    @app.exception_handler(ReviewError)
    async def bad_review(request: Request, error: ReviewError):
        return JSONResponse({"detail": str(error)}, status_code=400)

    from starlette.exceptions import HTTPException as StarletteHTTPException

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException):
        if error.status_code == 401 and wants_html(request):
            return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
        return JSONResponse({"detail": error.detail}, status_code=error.status_code, headers=error.headers)

    @app.get("/docs", include_in_schema=False)
    def swagger_ui():
        """Swagger UI from the vendored swagger-ui-dist, so the API docs work offline (no validator badge,
        which would call validator.swagger.io)."""
        return get_swagger_ui_html(openapi_url=app.openapi_url, title="zuoxi API", swagger_favicon_url="data:,",
                                   swagger_js_url="/static/swagger-ui-bundle.js", swagger_css_url="/static/swagger-ui.css",
                                   swagger_ui_parameters={"validatorUrl": None})

    from zuoxi.web import api, assist, campaigns, pages, training

    app.include_router(api.router)
    app.include_router(training.router)
    app.include_router(campaigns.router)
    app.include_router(assist.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
