"""The web front end's settings: the ``FAMILYHUB_WEB_*`` fields of :mod:`pipeline.settings`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.settings import settings

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


def web_settings() -> WebSettings:
    """Settings from the environment, validated with every other ``FAMILYHUB_*`` variable."""
    env = settings()
    return WebSettings(idle_minutes=env.web_idle_minutes, max_failures=env.web_max_failures,
                       lockout_minutes=env.web_lockout_minutes, client_failures=env.web_client_failures,
                       secure_cookies=env.web_secure_cookies, sso_header=env.web_sso_header,
                       sso_proxies=tuple(env.web_sso_proxies), data_docs=env.data_docs)
