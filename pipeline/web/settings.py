"""The web front end's settings, read from the environment in one place."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["WebSettings", "web_settings"]


@dataclass(frozen=True)
class WebSettings:
    """How sessions, sign-in and single sign-on behave (defaults suit a council deployment)."""

    idle_minutes: int = 30            # a session unused this long ends
    max_failures: int = 5             # wrong passwords in a row before an account locks
    lockout_minutes: int = 15         # how long a locked account stays locked
    client_failures: int = 20         # failures from one address per window before it is throttled
    secure_cookies: bool = True       # cookies only over HTTPS (off only for local http testing)
    sso_header: str | None = None     # e.g. X-Forwarded-Preferred-Username set by oauth2-proxy
    sso_proxies: tuple[str, ...] = ("127.0.0.1",)  # addresses allowed to set that header
    data_docs: Path | None = None     # the Great Expectations Data Docs folder (FAMILYHUB_DATA_DOCS)


def _flag(value: str) -> bool:
    return value.strip().lower() not in ("0", "false", "no", "off", "")


def web_settings(env: dict[str, str] | None = None) -> WebSettings:
    """Settings from ``FAMILYHUB_WEB_*`` variables (unset ones keep their defaults)."""
    env = dict(os.environ) if env is None else env
    get = env.get
    proxies = tuple(p.strip() for p in get("FAMILYHUB_WEB_SSO_PROXIES", "127.0.0.1").split(",") if p.strip())
    try:
        return WebSettings(
            idle_minutes=int(get("FAMILYHUB_WEB_IDLE_MINUTES", "30")),
            max_failures=int(get("FAMILYHUB_WEB_MAX_FAILURES", "5")),
            lockout_minutes=int(get("FAMILYHUB_WEB_LOCKOUT_MINUTES", "15")),
            client_failures=int(get("FAMILYHUB_WEB_CLIENT_FAILURES", "20")),
            secure_cookies=_flag(get("FAMILYHUB_WEB_SECURE_COOKIES", "1")),
            sso_header=get("FAMILYHUB_WEB_SSO_HEADER") or None,
            sso_proxies=proxies,
            data_docs=Path(get("FAMILYHUB_DATA_DOCS")) if get("FAMILYHUB_DATA_DOCS") else None,
        )
    except ValueError as exc:
        raise ValueError(f"a FAMILYHUB_WEB_* number setting is not a whole number: {exc}") from exc
