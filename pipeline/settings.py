"""Every ``FAMILYHUB_*`` environment variable, typed, documented and validated in one place.

:func:`settings` reads the environment afresh on each call (a test's ``monkeypatch.setenv``
or the CLI's ``--data-docs`` takes effect at once); the CLI and the DAG files call it at
start-up, so a bad value (``FAMILYHUB_MAX_BAD_SHARE=abc``) stops them with a message naming
the variable. A new variable is one field here; the README's settings table is generated from
this model (``familyhub settings``) and ``tests/test_settings.py`` keeps the two equal.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = ["PREFIX", "Settings", "SettingsError", "markdown_table", "settings"]

PREFIX = "FAMILYHUB_"


class SettingsError(ValueError):
    """A ``FAMILYHUB_*`` variable whose value does not fit its type or range."""


class Settings(BaseSettings):
    """FamilyHub's settings; each field is the variable ``FAMILYHUB_<FIELD NAME>``."""

    model_config = SettingsConfigDict(env_prefix=PREFIX, env_ignore_empty=True, extra="ignore", frozen=True)

    warehouse: str = Field("duckdb:///familyhub.duckdb", repr=False, description=(
        "Warehouse URL, e.g. `postgresql+psycopg://user@host/db`; `--warehouse` overrides it"))
    landing: Path = Field(Path("landing"), description="Landing root, one folder per agency (`--landing`)")
    quarantine: Path | None = Field(None, description=(
        "Where refused files and their reports go (`--quarantine`) [default: `quarantine` beside the landing root]"))
    data_docs: Path | None = Field(None, description=(
        "Where the Data Docs of every validated file go (`--data-docs`) [default: `data_docs` beside the quarantine]"))
    declarations: Annotated[list[Path], NoDecode] = Field(default_factory=list, description=(
        "Extra folders of agency declarations, `os.pathsep` separated, read after the shipped ones"))
    programmes: Annotated[list[Path], NoDecode] = Field(default_factory=list, description=(
        "Extra folders of programme YAML, `os.pathsep` separated, looked up before the shipped ones"))
    active_programmes: Annotated[list[str], NoDecode] = Field(default_factory=list, description=(
        "Programmes the Airflow DAG evaluates, comma separated; the first is the active one "
        "[default: every configured programme, `tf2015` first]"))
    max_bad_share: float = Field(0.10, ge=0, le=1, description=(
        "Share of bad rows above which a file is refused whole (`--max-bad-share`)"))
    max_file_bytes: int = Field(2 << 30, gt=0, description="Largest landing file, in bytes")
    max_rows: int = Field(5_000_000, gt=0, description="Most data rows in one file")
    max_cells: int = Field(150_000_000, gt=0, description="Most cells (rows × columns) in one file")
    max_xlsx_uncompressed_bytes: int = Field(4 << 30, gt=0, description="Most bytes a workbook's members inflate to")
    max_xlsx_ratio: int = Field(200, gt=0, description="Largest inflated/compressed ratio of a workbook member")
    max_xlsx_members: int = Field(1_000, gt=0, description="Most files inside one workbook")
    archive: bool = Field(False, description=(
        "Move processed files to `landing/<agency>/processed/YYYY/` (`--archive`)"))
    data_team_email: str | None = Field(None, description="The data team's address for overdue-extract notices")
    ingest_workers: int = Field(2, ge=1, description="Processes ingesting agencies side by side on PostgreSQL")
    retention_days: int = Field(7 * 365, ge=1, description="Retention period of `familyhub retention`, in days")
    user: str | None = Field(None, description="Who is acting, for the audit log (`--as`) [default: the OS user]")
    pseudonym_key: SecretStr | None = Field(None, description=(
        "HMAC key of the analysts' pseudonyms, at least 32 characters; unset: pseudonyms are not refreshed"))
    poke_seconds: int = Field(300, gt=0, description="How often the ingest DAGs' sensors look for new files")
    web_idle_minutes: int = Field(30, gt=0, description="Web: a session unused this long ends (minutes)")
    web_max_failures: int = Field(5, gt=0, description="Web: wrong passwords in a row before an account locks")
    web_lockout_minutes: int = Field(15, gt=0, description="Web: how long a locked account stays locked (minutes)")
    web_client_failures: int = Field(20, gt=0, description=(
        "Web: failed sign-ins from one address per lockout window before it is throttled"))
    web_secure_cookies: bool = Field(True, description=(
        "Web: cookies only over HTTPS (switch off only for local http testing)"))
    web_sso_header: str | None = Field(None, description=(
        "Web: single sign-on header set by a trusted reverse proxy, e.g. `X-Forwarded-Preferred-Username`"))
    web_sso_proxies: Annotated[list[str], NoDecode] = Field(["127.0.0.1"], description=(
        "Web: addresses allowed to set the single sign-on header, comma separated"))
    smtp_host: str | None = Field(None, description="SMTP server for alert e-mails; unset: alerts are not e-mailed")
    smtp_port: int | None = Field(None, gt=0, lt=65536, description=(
        "SMTP port [default: 587 starttls, 465 ssl, 25 none]"))
    smtp_user: str | None = Field(None, description="SMTP login")
    smtp_password: SecretStr | None = Field(None, description="SMTP password (never logged)")
    smtp_from: str | None = Field(None, description="Sender address of alert e-mails (required with the host)")
    smtp_security: Literal["starttls", "ssl", "none"] = Field("starttls", description=(
        "`starttls` (the server must offer it), `ssl` (implicit TLS) or `none` (a trusted relay)"))

    @field_validator("declarations", "programmes", mode="before")
    @classmethod
    def _split_paths(cls, value: Any) -> Any:
        return [p for p in value.split(os.pathsep) if p] if isinstance(value, str) else value

    @field_validator("active_programmes", "web_sso_proxies", mode="before")
    @classmethod
    def _split_names(cls, value: Any) -> Any:
        return [p.strip() for p in value.split(",") if p.strip()] if isinstance(value, str) else value

    @field_validator("smtp_security", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value


def settings() -> Settings:
    """The settings from the environment now; :class:`SettingsError` names each bad variable.

    Built once per distinct set of ``FAMILYHUB_*`` variables: parsing takes ~10 ms and hot
    paths (every agency look-up) ask hundreds of times a run."""
    return _settings(tuple(sorted((k, v) for k, v in os.environ.items() if k.upper().startswith(PREFIX))))


@lru_cache(maxsize=16)
def _settings(_environment: tuple[tuple[str, str], ...]) -> Settings:
    try:
        return Settings()
    except ValidationError as error:
        problems = [f"{PREFIX}{str(e['loc'][0]).upper()}={e['input']!r}: {e['msg']}" for e in error.errors()]
        raise SettingsError("invalid setting: " + "; ".join(problems)) from None


def markdown_table() -> str:
    """The README's settings table, generated from the model."""
    rows = ["| variable | default | what it sets |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = field.get_default(call_default_factory=True)
        if isinstance(default, list):
            default = ",".join(map(str, default))
        shown = "" if default in (None, "") else f"`{default}`"
        rows.append(f"| `{PREFIX}{name.upper()}` | {shown} | {field.description} |")
    return "\n".join(rows) + "\n"
