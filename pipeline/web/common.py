"""What every page module shares: the signed-in actor, the access check that 404s and audits,
CSRF, the audit-first read, and rendering through the one base template."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import jinja2
import pandas as pd
from fastapi import Depends, HTTPException, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from pipeline.governance import audit
from pipeline.warehouse.engine import Warehouse
from pipeline.web import access
from pipeline.web.accounts import Actor, find_user, open_session, session_actor
from pipeline.web.settings import WebSettings

__all__ = ["COOKIE", "NotSignedIn", "SignedIn", "Web", "check_csrf", "frame_rows", "reason_of", "render", "require",
           "signed_in", "web_of"]

COOKIE = "fh_session"
FACET_SECONDS = 300  # how long whole-evaluation summaries are kept
HERE = Path(__file__).resolve().parent


class NotSignedIn(Exception):
    """Raised by :func:`signed_in`; the app answers with a redirect to the sign-in page."""

    def __init__(self, next_path: str):
        self.next_path = next_path


@dataclass
class Web:
    """The app's shared state: warehouse, settings and templates (autoescaped)."""

    wh: Warehouse
    settings: WebSettings
    templates: Jinja2Templates
    facets: dict[tuple, tuple[float, Any]] = field(default_factory=dict)

    def facet(self, key: tuple, compute: Callable[[], Any], seconds: float = FACET_SECONDS) -> Any:
        """A summary of a whole evaluation (counts by district, the criteria met...), kept for
        ``seconds``: it changes only when the cohort is evaluated again, and costs a scan."""
        now = time.monotonic()
        kept = self.facets.get(key)
        if kept is None or now - kept[0] > seconds:
            kept = self.facets[key] = (now, compute())
        return kept[1]

    @classmethod
    def make(cls, wh: Warehouse, settings: WebSettings) -> Web:
        env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                                 undefined=jinja2.StrictUndefined)
        env.filters["day"] = lambda v: "" if v is None or pd.isna(v) else str(v)[:10]
        env.filters["money"] = lambda v: "" if v is None or pd.isna(v) else f"£{float(v):,.0f}"
        return cls(wh, settings, Jinja2Templates(env=env))


def web_of(request: Request) -> Web:
    return request.app.state.web


def _sso_actor(request: Request, web: Web) -> Actor | None:
    """The user named by the trusted single-sign-on header, if configured and sent by the proxy."""
    header = web.settings.sso_header
    client = request.client.host if request.client else None
    if not header or client not in web.settings.sso_proxies or not request.headers.get(header):
        return None
    name = request.headers[header].strip().lower().split("@")[0]
    user = find_user(web.wh, name)
    if user is None or user["disabled"]:
        raise HTTPException(403, f"'{name}' has no FamilyHub account (or it is disabled)")
    current = session_actor(web.wh, request.cookies.get(COOKIE), web.settings)
    if current is not None and current.name == name:
        return current
    token = open_session(web.wh, name)
    request.state.new_session = token
    return session_actor(web.wh, token, web.settings)


def signed_in(request: Request) -> Actor:
    """FastAPI dependency: the signed-in actor, else a redirect to the sign-in page."""
    web = web_of(request)
    actor = _sso_actor(request, web) or session_actor(web.wh, request.cookies.get(COOKIE), web.settings)
    if actor is None:
        raise NotSignedIn(request.url.path)
    return actor


#: A page's signed-in actor: ``actor: SignedIn`` in a route's parameters.
SignedIn = Annotated[Actor, Depends(signed_in)]


def require(request: Request, actor: Actor, action: str, family_id: str | None = None) -> None:
    """Refuse what :func:`access.allowed` refuses: 403 for a page not of this role, 404 for a
    family that is not this user's (as if it did not exist), with an audit row of the attempt."""
    web = web_of(request)
    if family_id is None:
        if not access.allowed(web.wh, actor, action):
            raise HTTPException(403, "this page is not for your role")
        return
    if not access.allowed(web.wh, actor, action, family_id):
        audit.record(web.wh, "denied", who=actor.name, family_id=family_id,
                     detail=f"{action}: {request.method} {request.url.path}")
        raise HTTPException(404, "no such family")


def check_csrf(actor: Actor, form: Any) -> None:
    """Every form posts back its session's token; anything else is refused."""
    sent = str(form.get("csrf") or "")
    if not actor.csrf or not secrets.compare_digest(sent, actor.csrf):
        raise HTTPException(403, "the form is out of date or was not sent by FamilyHub: reload the page")


def reason_of(form_or_query: Any) -> str | None:
    """The stated reason, if it is long enough to be one (see :func:`audit.require_reason`)."""
    try:
        return audit.require_reason(form_or_query.get("reason"))
    except audit.AuditError:
        return None


def frame_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A frame as a list of dicts with NaN/NaT made None, for templates."""
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def render(request: Request, template: str, actor: Actor | None, status: int = 200, **context: Any) -> HTMLResponse:
    """A page through ``base.html``: navigation for the actor's role, CSRF token at hand."""
    web = web_of(request)
    nav = access.pages_for(actor) if actor else []
    response = web.templates.TemplateResponse(
        request, template, {"actor": actor, "nav": nav, "path": request.url.path, "quote": quote, **context},
        status_code=status)
    token = getattr(request.state, "new_session", None)
    if token:
        set_session_cookie(response, token, web.settings)
    return response


def set_session_cookie(response: Any, token: str, settings: WebSettings) -> None:
    response.set_cookie(COOKIE, token, httponly=True, secure=settings.secure_cookies, samesite="strict",
                        path="/")
