"""The FastAPI application: routers under /v1, bounded bodies, request metrics, errors in one shape."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import swagger_ui_bundle
from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException
from starlette.routing import Match

from service.deps import Anyone
from service.pages import routes as pages
from service.problems import problem_detail, schema_problems, swedish, wish_rows_problems
from service.routes import proposals, reference, rounds, simulations, sweeps
from service.runtime import ClientGone, Runtime, TooBusy
from service.schemas import Problem
from service.settings import Settings
from solver import __version__
from solver.domain import InputError

DESCRIPTION = """Proposals for the national redistribution of allocation shares (andelstal) for unaccompanied
children among Sweden's 290 municipalities. Tokens come from `andelstal tokens create`; send them as
`Authorization: Bearer <token>`. Shares are per mille (‰) with at most two decimals."""


def complete_document(doc: dict[str, Any], production: bool) -> None:
    """What FastAPI cannot know of the document: every 422 has the form of `problem_detail` (not FastAPI's own),
    every operation may answer one, and outside production the metrics need no token (security `{}` or a
    bearer token)."""
    schemas = doc["components"]["schemas"]
    problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas["ValidationError"] = {**problem, "title": "ValidationError"}
    if not production:
        doc["paths"]["/metrics"]["get"]["security"] = [{}, {"HTTPBearer": []}]
    refused = {"description": "Validation Error",
               "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HTTPValidationError"}}}}
    for operations in doc["paths"].values():
        for operation in operations.values():
            operation["responses"].setdefault("422", refused)  # an unknown query parameter, on any operation


class BodyTooLarge(BaseException):
    """Raised while a body streams in. A BaseException, because FastAPI turns any Exception met while it
    reads a body into a 400; this one must reach the guard to become a 413."""


class Guard:
    """Pure ASGI middleware: refuses bodies over the limit with 413 and times every request."""

    def __init__(self, app: Any, limit: int, runtime: Runtime):
        self.app = app
        self.limit = limit
        self.runtime = runtime

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500, "sent": False}
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._too_large(send, status)
            self._observe(scope, status, started)
            return
        seen = 0

        async def limited_receive() -> dict[str, Any]:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise BodyTooLarge
            return message

        async def tracked_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"], status["sent"] = message["status"], True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracked_send)
        except BodyTooLarge:
            if not status["sent"]:
                await self._too_large(send, status)
        finally:
            self._observe(scope, status, started)

    async def _too_large(self, send: Any, status: dict[str, Any]) -> None:
        response = JSONResponse({"detail": f"the request body is larger than {self.limit} bytes"}, status_code=413)
        status["code"], status["sent"] = 413, True
        await response({"type": "http"}, None, send)  # type: ignore[arg-type]

    def _observe(self, scope: dict[str, Any], status: dict[str, Any], started: float) -> None:
        route = getattr(scope.get("route"), "path", "unmatched")
        self.runtime.metrics.requests.labels(scope["method"], route, str(status["code"])).observe(
            time.perf_counter() - started)


async def _route_once(app: FastAPI) -> None:
    """Route one request through every router, bypassing the middleware (it is not counted): FastAPI prepares
    an included router's routes (their dependencies, parameters and body models) when a request first passes
    through it, 0.05 s that the first request to the service would otherwise wait for."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": "/v1/-", "raw_path": b"/v1/-", "root_path": "", "query_string": b"", "headers": [],
             "client": ("127.0.0.1", 0), "server": ("127.0.0.1", 0), "app": app}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        pass

    try:
        await app.router(scope, receive, send)
    except HTTPException:  # no route has that path: the 404 the middleware would have sent
        pass


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    """The app; it closes its runtime at shutdown only when it made it (a given runtime is its caller's)."""
    settings = settings or Settings.from_env()
    owned = runtime is None
    runtime = runtime or Runtime.start(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await _route_once(app)
        yield
        if owned:
            runtime.close()

    production = settings.production
    # production serves its OpenAPI document to token holders only (openapi_document below), and no docs page
    app = FastAPI(title="andelstal", version=__version__, description=DESCRIPTION, lifespan=lifespan,
                  debug=False, docs_url=None, redoc_url=None, openapi_url=None if production else "/openapi.json",
                  # operation ids are the routes' names (`create_round`), which generated clients take as theirs
                  generate_unique_id_function=lambda route: route.name)
    if not production:
        # the docs page's scripts and styles come from the package swagger-ui-bundle-v2, not a CDN: it works offline
        app.mount("/docs/assets", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="docs-assets")

        @app.get("/docs", include_in_schema=False)
        async def docs() -> HTMLResponse:
            return get_swagger_ui_html(openapi_url="/openapi.json", title="andelstal API",
                                       swagger_js_url="/docs/assets/swagger-ui-bundle.js",
                                       swagger_css_url="/docs/assets/swagger-ui.css",
                                       swagger_favicon_url="/docs/assets/favicon-32x32.png")
    if production:
        @app.get("/openapi.json", include_in_schema=False)
        async def openapi_document(who: Anyone) -> JSONResponse:
            return JSONResponse(app.openapi())

    app.state.runtime = runtime
    app.include_router(reference.plain)
    app.include_router(reference.router)
    app.include_router(rounds.router)
    app.include_router(proposals.router)
    app.include_router(simulations.router)
    app.include_router(sweeps.router)
    pages.install(app)

    document = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            complete_document(document(), production)
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        if pages.is_page(request):
            return pages.page_error(request, 422, "; ".join(str(e.get("msg")) for e in exc.errors()))
        # every problem of the body at once, in the command line's form: the schema's, and the solver's own
        # checks of the wish rows the schema let through
        errors = exc.errors()
        sv = swedish(request.headers.get("accept-language"))
        detail = schema_problems(errors, exc.body, sv)
        if request.method == "POST" and request.url.path == "/v1/what-if":
            detail += [problem_detail(p, sv=sv) for p in wish_rows_problems(errors, exc.body, runtime.municipalities,
                                                                            runtime.illustrative)]
        return JSONResponse({"detail": detail}, status_code=422)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if exc.status_code == 405:
            # Starlette names only the methods of the first route whose path matched; every route of the path counts
            methods = [m for m in ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT")
                       if any(route.matches({**request.scope, "method": m})[0] is Match.FULL for route in app.routes)]
            if pages.is_page(request):
                return pages.page_error(request, 405, ", ".join(methods), {"Allow": ", ".join(methods)})
            return JSONResponse({"detail": f"{request.method} is not allowed here; allowed: {', '.join(methods)}"},
                                status_code=405, headers={"Allow": ", ".join(methods)})
        if pages.is_page(request):  # a page met the API's refusal: a page says it
            return pages.page_error(request, exc.status_code, str(exc.detail))
        return await http_exception_handler(request, exc)

    @app.exception_handler(InputError)
    async def bad_input(request: Request, exc: InputError) -> Response:
        if pages.is_page(request):
            sv = pages.language(request) == "sv"
            return pages.page_error(request, 422, "; ".join(p.reason_sv if sv and p.reason_sv else str(p) for p in exc.problems))
        sv = swedish(request.headers.get("accept-language"))
        return JSONResponse({"detail": [problem_detail(p, sv=sv) for p in exc.problems]}, status_code=422)

    @app.exception_handler(TooBusy)
    async def busy(request: Request, exc: TooBusy) -> Response:
        if pages.is_page(request):
            return pages.page_error(request, 429, str(exc), {"Retry-After": str(exc.retry_after)})
        return JSONResponse({"detail": str(exc)}, status_code=429, headers={"Retry-After": str(exc.retry_after)})

    @app.exception_handler(ClientGone)
    async def gone(request: Request, exc: ClientGone) -> Response:
        return Response(status_code=499)  # nobody reads it: the connection is closed

    @app.exception_handler(IntegrityError)
    async def conflict(request: Request, exc: IntegrityError) -> Response:
        if pages.is_page(request):
            return pages.page_error(request, 409, "")
        # two requests created the same thing at once (PostgreSQL's unique index decided): the loser changed nothing
        return JSONResponse({"detail": "a concurrent request changed the same data first; nothing was changed by "
                                       "this one (read it again, then retry if still needed)"}, status_code=409)

    app.add_middleware(Guard, limit=settings.max_body_bytes, runtime=runtime)
    return app
