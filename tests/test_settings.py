"""One typed settings object: every FAMILYHUB_* variable the code reads, validated, documented."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.ingest.limits import Limits
from pipeline.ingest.quality import max_bad_share
from pipeline.settings import PREFIX, Settings, SettingsError, markdown_table, settings

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
TABLE = re.compile(r"<!-- settings table: .*? -->\n(.*?)<!-- end of settings table -->", re.S)


def variables() -> set[str]:
    return {PREFIX + name.upper() for name in Settings.model_fields}


def test_readme_table_is_the_generated_one() -> None:
    found = TABLE.search(README.read_text(encoding="utf-8"))
    assert found, "README.md has no settings table between the markers"
    assert found.group(1) == markdown_table(), "regenerate it: familyhub settings"


def test_cli_prints_the_table() -> None:
    result = CliRunner().invoke(main, ["settings"])
    assert result.exit_code == 0, result.output
    assert result.output == markdown_table()


def test_every_variable_the_code_names_is_a_setting() -> None:
    """A FAMILYHUB_* name in pipeline/ or dags/ that is not a field would escape validation."""
    named = {(name, path.relative_to(ROOT)) for folder in ("pipeline", "dags") for path in (ROOT / folder).rglob("*.py")
             for name in re.findall(r"FAMILYHUB_\w+", path.read_text(encoding="utf-8"))}
    assert len(named) > 20
    fields = variables()
    unknown = {(name, str(path)) for name, path in named
               if not (any(f.startswith(name) for f in fields) if name.endswith("_") else name in fields)}
    assert not unknown


def test_every_setting_is_described() -> None:
    assert all(field.description for field in Settings.model_fields.values())


def test_settings_are_read_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAMILYHUB_MAX_BAD_SHARE", "0.25")
    monkeypatch.setenv("FAMILYHUB_MAX_ROWS", "123")
    monkeypatch.setenv("FAMILYHUB_ACTIVE_PROGRAMMES", " tf2012 , local ,")
    monkeypatch.setenv("FAMILYHUB_PROGRAMMES", f"/a{os.pathsep}/b")
    monkeypatch.setenv("FAMILYHUB_SMTP_SECURITY", "SSL")
    monkeypatch.setenv("FAMILYHUB_QUARANTINE", "")  # empty is unset
    assert max_bad_share() == 0.25
    assert Limits.from_env() == Limits(rows=123)
    env = settings()
    assert env.active_programmes == ["tf2012", "local"]
    assert env.programmes == [Path("/a"), Path("/b")]
    assert (env.smtp_security, env.quarantine) == ("ssl", None)


@pytest.mark.parametrize(("name", "value", "words"), [
    ("FAMILYHUB_MAX_BAD_SHARE", "abc", "valid number"),
    ("FAMILYHUB_MAX_BAD_SHARE", "1.5", "less than or equal to 1"),
    ("FAMILYHUB_INGEST_WORKERS", "0", "greater than or equal to 1"),
    ("FAMILYHUB_SMTP_SECURITY", "tls", "'starttls', 'ssl' or 'none'"),
])
def test_a_bad_value_is_refused_naming_the_variable(monkeypatch: pytest.MonkeyPatch, name: str, value: str,
                                                     words: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=f"{name}='{value}'.*{words}"):
        settings()
    result = CliRunner().invoke(main, ["status"])
    assert result.exit_code != 0
    assert name in result.output


def test_secrets_do_not_show(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAMILYHUB_WAREHOUSE", "postgresql+psycopg://hub:s3cret@db/familyhub")
    monkeypatch.setenv("FAMILYHUB_SMTP_PASSWORD", "s3cret")
    monkeypatch.setenv("FAMILYHUB_PSEUDONYM_KEY", "s3cret" * 8)
    assert "s3cret" not in repr(settings()) + str(settings())
