"""The layer contracts in pyproject.toml ([tool.importlinter]) hold, and a violation breaks them.

Each violation is planted in a copy of the packages, so the test proves the contract can fail
(a contract that cannot fail protects nothing) and that its message names the broken rule.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """Run lint-imports on the tree at ``root`` (its pyproject.toml, its packages first on the path)."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([str(LINT_IMPORTS), "--no-logo", "--no-cache"], cwd=root, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the code and its contracts, to break."""
    for folder in ("pipeline", "matching", "dags"):
        shutil.copytree(ROOT / folder, tmp_path / folder,
                        ignore=shutil.ignore_patterns("__pycache__", "data", "*.yaml"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    return tmp_path


def test_the_tree_keeps_every_contract(tree: Path) -> None:
    result = lint_imports(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(("module", "line", "contract"), [
    ("matching/clustering.py", "import sqlalchemy", "matching knows no warehouse, pipeline or Airflow"),
    ("matching/scoring.py", "from pipeline.warehouse import engine", "matching knows no warehouse, pipeline or Airflow"),
    ("pipeline/runner.py", "import dags.ingest", "pipeline never imports the DAGs"),
    ("pipeline/programme/alerts.py", "import airflow", "only pipeline.airflow and dags import Airflow"),
    ("pipeline/governance/erasure.py", "from pipeline.programme import claims", "governance knows no programme rules"),
    ("pipeline/linkage/link.py", "from pipeline.programme import cases", "linkage knows no programme"),
])
def test_a_violation_breaks_its_contract(tree: Path, module: str, line: str, contract: str) -> None:
    path = tree / module
    path.write_text(path.read_text() + f"\n{line}  # planted by the test\n")
    result = lint_imports(tree)
    assert result.returncode != 0
    assert f"{contract} BROKEN" in result.stdout
    assert "1 broken" in result.stdout
