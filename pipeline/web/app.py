"""The FastAPI application: page routers, static files, errors, security headers.

``familyhub serve`` runs :func:`create_app` under uvicorn. Pages are server-rendered Jinja2
(autoescaped) with one small stylesheet and no script from anywhere: nothing to build, nothing
fetched at run time.
"""

from __future__ import annotations

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from pipeline.warehouse.engine import Warehouse
from pipeline.web import claims, cohort, families, feeds, review, savings, signin
from pipeline.web.access import install_role_switch
from pipeline.web.accounts import session_actor
from pipeline.web.common import COOKIE, HERE, NotSignedIn, Web, render
from pipeline.web.settings import WebSettings, web_settings

__all__ = ["create_app"]

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                               "script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def create_app(wh: Warehouse, settings: WebSettings | None = None) -> FastAPI:
    """The web app on an open, migrated warehouse."""
    app = FastAPI(title="FamilyHub", docs_url=None, redoc_url=None, openapi_url=None)
    install_role_switch(wh)
    app.state.web = Web.make(wh, settings or web_settings())
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for module in (signin, families, cohort, claims, savings, feeds, review):
        app.include_router(module.router)

    @app.middleware("http")
    async def headers(request: Request, call_next) -> Response:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    @app.exception_handler(NotSignedIn)
    async def to_sign_in(request: Request, exc: NotSignedIn) -> Response:
        return RedirectResponse(f"/login?next={exc.next_path}", status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def error_page(request: Request, exc: HTTPException) -> Response:
        web: Web = request.app.state.web
        actor = session_actor(web.wh, request.cookies.get(COOKIE), web.settings)
        return render(request, "error.html", actor, status=exc.status_code, message=exc.detail)

    return app
