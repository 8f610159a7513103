"""Sign-in and sign-out pages.

The sign-in form has no session yet, so its CSRF token is a double submit: a random value in
a short-lived SameSite cookie and the same value in the form.
"""

from __future__ import annotations

import secrets

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from pipeline.web.accounts import SignInRefused, authenticate, end_session, open_session
from pipeline.web.common import COOKIE, SignedIn, check_csrf, render, set_session_cookie, web_of

__all__ = ["router"]

router = APIRouter()
LOGIN_CSRF = "fh_login_csrf"


def _local(path: str | None) -> str:
    """Only a path on this site may follow sign-in (no open redirect)."""
    return path if path and path.startswith("/") and not path.startswith("//") and "\\" not in path else "/"


def _form(request: Request, next_path: str, error: str | None = None, status: int = 200) -> Response:
    token = secrets.token_urlsafe(24)
    response = render(request, "login.html", None, status=status, csrf=token, next_path=_local(next_path),
                      error=error)
    response.set_cookie(LOGIN_CSRF, token, max_age=900, httponly=True, samesite="strict",
                        secure=web_of(request).settings.secure_cookies)
    return response


@router.get("/login")
def login_page(request: Request, next: str = "/") -> Response:
    return _form(request, next)


@router.post("/login")
async def login(request: Request) -> Response:
    web = web_of(request)
    form = await request.form()
    sent, kept = str(form.get("csrf") or ""), request.cookies.get(LOGIN_CSRF) or ""
    if not kept or not secrets.compare_digest(sent, kept):
        raise HTTPException(403, "the sign-in form is out of date: reload the page")
    client = request.client.host if request.client else None
    try:
        user = authenticate(web.wh, str(form.get("username") or ""), str(form.get("password") or ""),
                            client, web.settings)
    except SignInRefused as exc:
        return _form(request, str(form.get("next") or "/"), str(exc), exc.status)
    response = RedirectResponse(_local(str(form.get("next") or "/")), status_code=303)
    set_session_cookie(response, open_session(web.wh, user["name"]), web.settings)
    response.delete_cookie(LOGIN_CSRF)
    return response


@router.post("/logout")
async def logout(request: Request, actor: SignedIn) -> Response:
    check_csrf(actor, await request.form())
    end_session(web_of(request).wh, request.cookies.get(COOKIE))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response
