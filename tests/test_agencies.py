"""Agency declarations: the ``households`` key naming household evidence is checked on load."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipeline.ingest.agencies import DECLARATIONS, DeclarationError, load_agencies
from pipeline.linkage.link import household_evidence


def declare(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, base: str, households: object) -> dict:
    """Load the declarations plus a copy of ``base`` named ``extra`` with ``households`` set."""
    raw = yaml.safe_load((DECLARATIONS / f"{base}.yaml").read_text(encoding="utf-8"))
    raw["name"] = "extra"
    raw["households"] = households
    (tmp_path / "extra.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    monkeypatch.setenv("FAMILYHUB_DECLARATIONS", str(tmp_path))
    return load_agencies()


def test_declarations_name_the_household_evidence() -> None:
    agencies = load_agencies()
    assert agencies["housing"].households == {"residence_groups": ("tenancy",)}
    assert agencies["police"].households == {"incident_groups": ("domestic_incident",)}
    assert agencies["health"].households == {"birth_events": ("MATERNITY",)}
    evidence = household_evidence()
    assert evidence.residence_groups == ("tenancy",)
    assert evidence.incident_groups == ("domestic_incident",)
    assert evidence.birth_events == ("MATERNITY",)


def test_a_new_agency_adds_household_evidence_by_declaration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = yaml.safe_load((DECLARATIONS / "housing.yaml").read_text(encoding="utf-8"))
    raw["person"]["group"]["kind"] = "lease"
    raw["name"] = "extra"
    raw["households"] = {"residence_groups": ["lease"]}
    (tmp_path / "extra.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    monkeypatch.setenv("FAMILYHUB_DECLARATIONS", str(tmp_path))
    assert household_evidence().residence_groups == ("lease", "tenancy")  # agencies in name order


@pytest.mark.parametrize(
    ("base", "households", "message"),
    [
        ("housing", ["tenancy"], "households: not a mapping"),
        ("housing", {"homes": ["tenancy"]}, "households.homes: unknown field"),
        ("housing", {"residence_groups": []}, "non-empty list of names"),
        ("housing", {"residence_groups": "tenancy"}, "non-empty list of names"),
        ("housing", {"incident_groups": ["domestic_incident"]}, "not the person.group kind"),
        ("health", {"residence_groups": ["tenancy"]}, "not the person.group kind"),
        ("health", {"birth_events": ["BIRTH"]}, "'BIRTH' is not an event type"),
        ("housing", {"birth_events": ["MATERNITY"]}, "'MATERNITY' is not an event type"),
    ],
)
def test_household_evidence_is_validated_on_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, base: str, households: object, message: str
) -> None:
    with pytest.raises(DeclarationError, match=f"extra.yaml: .*{message}"):
        declare(tmp_path, monkeypatch, base, households)
