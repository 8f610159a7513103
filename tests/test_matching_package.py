"""The matching package stays a pure library: no database, warehouse, Airflow or pipeline
imports, and no import cycles between its modules."""

from __future__ import annotations

import ast
import subprocess
import sys
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

MATCHING = Path(__file__).resolve().parents[1] / "matching"
FORBIDDEN = ("duckdb", "sqlalchemy", "psycopg", "airflow", "pipeline")


def _files() -> dict[str, Path]:
    """Every matching module by dotted name (a package by its ``__init__``)."""
    return {
        ".".join(("matching", *p.relative_to(MATCHING).with_suffix("").parts)).removesuffix(
            ".__init__"
        ): p
        for p in sorted(MATCHING.rglob("*.py"))
    }


def _modules() -> list[str]:
    return sorted(_files())


def test_every_matching_module_imports_without_database_or_pipeline() -> None:
    blocker = f"""
import importlib, importlib.abc, sys
FORBIDDEN = {FORBIDDEN!r}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in FORBIDDEN:
            raise ImportError(f"matching must not import {{name}}")
sys.meta_path.insert(0, Block())
for name in {_modules()!r}:
    importlib.import_module(name)
print(sorted(m for m in sys.modules if m.split(".")[0] in FORBIDDEN))
"""
    done = subprocess.run(
        [sys.executable, "-c", blocker],
        capture_output=True,
        text=True,
        cwd=MATCHING.parent,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def _imports(path: Path, module: str) -> set[str]:
    """Modules a file imports, at any depth (TYPE_CHECKING blocks included), as dotted names."""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            parts = package[: len(package) - node.level + 1] if node.level else []
            base = ".".join([*parts, *([node.module] if node.module else [])])
            found |= {base} | {f"{base}.{a.name}" for a in node.names}
    return found


def test_matching_modules_import_no_cycle() -> None:
    files = _files()
    graph = {
        module: {
            m
            for m in _imports(path, module)
            if m in files and m != module and not module.startswith(m + ".")
        }
        for module, path in files.items()
    }
    try:
        list(TopologicalSorter(graph).static_order())
    except CycleError as cycle:
        raise AssertionError(f"import cycle in matching: {cycle.args[1]}") from None
    assert [m for m, deps in graph.items() if "matching.matcher" in deps] == []
