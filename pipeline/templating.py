"""HTML pages from Jinja2 templates (``pipeline/templates/``) with autoescape on: every value a
template shows is escaped unless the code marks it safe, so names and file names from partner
data cannot inject markup."""

from __future__ import annotations

from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

__all__ = ["render"]


@cache
def _environment() -> Environment:
    return Environment(loader=PackageLoader("pipeline", "templates"), autoescape=True,
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def render(template: str, **context: Any) -> str:
    """The named template filled with ``context``."""
    return _environment().get_template(template).render(**context)
