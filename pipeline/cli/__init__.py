"""The ``familyhub`` command line: a thin skin over the library, one module per command group.

Each command opens the warehouse, calls one library function and formats the result; library
errors become clear messages (``click.ClickException``). Shared options are defined once in
:mod:`pipeline.cli.options`.
"""

from __future__ import annotations

import logging
import warnings

import click

from pipeline.cli import admin, cohort, linkage, load, needs, programme, web
from pipeline.settings import SettingsError, settings

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
def main(verbose: int) -> None:
    """FamilyHub: find the families several services are worried about.

    Ingest partner extracts through quality gates, link records into people and
    families, and identify the programme cohort.

    Example:

        familyhub generate demo --households 2000 && familyhub run --landing demo/landing
    """
    level = logging.WARNING - 10 * verbose
    logging.basicConfig(level=max(level, logging.DEBUG), format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("great_expectations").setLevel(max(level, logging.WARNING))
    # DuckDB reads arrow-backed pandas columns through a pandas attribute it deprecates: noise for users
    warnings.filterwarnings("ignore", message="ArrowStringArray._data", category=FutureWarning)
    try:
        settings()  # a bad FAMILYHUB_* value stops every command here, named
    except SettingsError as error:
        raise click.ClickException(str(error)) from None


for module in (load, linkage, cohort, programme, needs, admin, web):
    for command in module.COMMANDS:
        main.add_command(command)
