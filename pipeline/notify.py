"""E-mail for every stage: SMTP settings from the environment, and sending a batch of messages
with each outcome recorded at once, so a message is sent once and a failure is retried.

Key-worker alerts (``pipeline.programme.alerts``) record their deliveries in
``cohort.alert_deliveries``; operational notices (an overdue extract to the data team, a
refused file to its agency's contact) in ``ops.notices``, once per subject (:func:`send_once`).
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from typing import Literal, TypeVar

from pipeline.settings import settings
from pipeline.warehouse.engine import Warehouse

__all__ = ["Notice", "SmtpSettings", "deliver", "send_once"]

log = logging.getLogger(__name__)
K = TypeVar("K")


@dataclass(frozen=True)
class SmtpSettings:
    """SMTP settings, from the environment only; the password never appears in a repr or log.

    ``security``: ``starttls`` (default: the server must offer it), ``ssl`` (implicit TLS),
    or ``none`` (plain, for a relay on a trusted network or a test server).
    """

    host: str
    sender: str
    port: int = 587
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    timeout: float = 30.0

    @classmethod
    def from_env(cls) -> SmtpSettings | None:
        """FAMILYHUB_SMTP_HOST/PORT/USER/PASSWORD/FROM/SECURITY; None when no host is set."""
        env = settings()
        if not env.smtp_host:
            return None
        if not env.smtp_from:
            raise ValueError("FAMILYHUB_SMTP_FROM (the sender address) is required with FAMILYHUB_SMTP_HOST")
        port = env.smtp_port or {"starttls": 587, "ssl": 465, "none": 25}[env.smtp_security]
        password = env.smtp_password.get_secret_value() if env.smtp_password else None
        return cls(host=env.smtp_host, sender=env.smtp_from, port=port, user=env.smtp_user,
                   password=password, security=env.smtp_security)

    def connect(self) -> smtplib.SMTP:
        """An open, authenticated connection; credentials go only over TLS unless security is none."""
        context = ssl.create_default_context()
        if self.security == "ssl":
            server: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            server = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            if self.security == "starttls":
                server.starttls(context=context)
            if self.user:
                server.login(self.user, self.password or "")
        except BaseException:
            server.close()
            raise
        return server


def deliver(settings: SmtpSettings, messages: Sequence[tuple[K, EmailMessage]],
            record: Callable[[K, str, str | None], None]) -> dict[str, int]:
    """Send each message over one connection; ``record(key, "sent" | "failed", error)`` is called
    as soon as each outcome is known (one transaction each: a crash cannot forget a sent e-mail)."""
    counts = {"sent": 0, "failed": 0}
    if not messages:
        return counts
    try:
        server = settings.connect()
    except (OSError, smtplib.SMTPException) as exc:
        log.warning("cannot reach SMTP server %s:%s: %s", settings.host, settings.port, type(exc).__name__)
        for key, _ in messages:
            record(key, "failed", f"connect: {type(exc).__name__}")
        return counts | {"failed": len(messages)}
    with server:
        for key, message in messages:
            try:
                server.send_message(message)
            except smtplib.SMTPException as exc:
                record(key, "failed", f"{type(exc).__name__}: {exc}"[:500])
                counts["failed"] += 1
            else:
                record(key, "sent", None)
                counts["sent"] += 1
    return counts


@dataclass(frozen=True)
class Notice:
    """One operational e-mail: ``kind`` and ``subject_key`` say what it is about (sent once)."""

    kind: str
    subject_key: str
    recipient: str
    subject: str
    body: str


def send_once(wh: Warehouse, notices: Sequence[Notice], settings: SmtpSettings | None = None) -> dict[str, int]:
    """E-mail each notice not yet sent (``ops.notices``: kind, subject key, recipient); without
    SMTP settings nothing is sent or recorded, so the notices wait for the next pass."""
    settings = settings or SmtpSettings.from_env()
    sent = wh.read("select kind, subject_key, recipient from ops.notices where status = 'sent'")
    done = set(sent.itertuples(index=False, name=None))
    todo = [n for n in notices if (n.kind, n.subject_key, n.recipient) not in done]
    if settings is None:
        if todo:
            log.warning("%d notice(s) not e-mailed: FAMILYHUB_SMTP_HOST is not set", len(todo))
        return {"sent": 0, "failed": 0, "waiting": len(todo)}

    def message(n: Notice) -> EmailMessage:
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = settings.sender, n.recipient, n.subject
        msg.set_content(n.body)
        return msg

    def record(n: Notice, status: str, error: str | None) -> None:
        with wh.begin() as conn:
            wh.execute(conn, "insert into ops.notices (kind, subject_key, recipient, subject, status, attempted_at, "
                             "error) values (:k, :s, :r, :t, :st, :a, :e)",
                       {"k": n.kind, "s": n.subject_key, "r": n.recipient, "t": n.subject, "st": status,
                        "a": datetime.now(), "e": error})

    return deliver(settings, [(n, message(n)) for n in todo], record) | {"waiting": 0}
