"""The README says what is true: its folder table and flow diagram name the folders that exist,
and it lists what `make bench` runs."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
TOP_LEVEL = {"matching", "expectations", "sql", "dags", "benchmarks", "tests", "scripts", "docs"}


def section(title: str) -> str:
    return README.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def folder_table() -> list[str]:
    table = section("How data flows").split("<!-- folder table", 1)[1]
    return re.findall(r"^\| `([^`]+)` \|", table, re.M)


def test_the_folder_table_names_every_folder_of_pipeline_and_the_project() -> None:
    named = {p.rstrip("/") for p in folder_table()}
    pipeline = {f"pipeline/{p.name}" for p in (ROOT / "pipeline").iterdir()
                if p.is_dir() and p.name != "__pycache__"}
    assert pipeline <= named, f"add to the README's folder table: {sorted(pipeline - named)}"
    assert named >= TOP_LEVEL
    assert "pipeline/runner.py" in named


def test_every_path_the_folder_table_and_diagram_name_exists() -> None:
    diagram = section("How data flows").split("```", 2)[1]
    paths = set(folder_table()) | set(re.findall(r"\b((?:pipeline|matching)/[\w/]+(?:\.py|/))", diagram))
    assert len(paths) > 20
    missing = sorted(p for p in paths if not (ROOT / p).exists())
    assert not missing


def test_the_diagram_shows_the_stages_and_the_section_every_subpackage() -> None:
    diagram = section("How data flows").split("```", 2)[1]
    packages = {p.parent.name for p in (ROOT / "pipeline").glob("*/__init__.py")}
    shown = set(re.findall(r"pipeline/(\w+)", section("How data flows")))
    assert {"ingest", "warehouse", "linkage", "programme"} <= set(re.findall(r"pipeline/(\w+)", diagram))
    assert packages <= shown


def test_the_readme_lists_what_make_bench_runs() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = re.search(r"^bench:.*\n((?:\t.*\n)+)", makefile, re.M).group(1)
    commands = re.findall(r"\$\(BIN\)/python (.+)", recipe)
    assert commands
    said = section("Benchmarks").split("`make bench` runs", 1)[1].split(". ", 1)[0]
    said = " ".join(said.split())
    for command in commands:
        assert f"`{command.strip()}`" in said, command
