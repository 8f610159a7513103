"""Programme rules engine: which families are in the cohort, why, and what they cost.

A pure library (data frames in, data frames out, no database). Programmes are YAML
configuration (``pipeline/programmes/``, plus folders in ``FAMILYHUB_PROGRAMMES``) read by one
engine; rules: ``shared/spec/programme.md``. Typical use::

    result = evaluate(load_programme("tf2015"), events, members, as_of=date(2026, 3, 31))
    result.cohort, result.evidence
    compare(result, evaluate("tf2012", events, members, date(2026, 3, 31)))
"""

from pipeline.programme.cohort.config import (
    Programme,
    ProgrammeError,
    list_programmes,
    load_programme,
    parse_programme,
    programme_folders,
)
from pipeline.programme.cohort.evaluate import (
    COHORT_COLUMNS,
    EVIDENCE_OUTPUT,
    CohortResult,
    compare,
    evaluate,
    rule_differences,
)
from pipeline.programme.cohort.frames import last_terms, term_bounds
from pipeline.programme.cohort.rules import Horizon, event_horizon

__all__ = [
    "COHORT_COLUMNS",
    "EVIDENCE_OUTPUT",
    "CohortResult",
    "Horizon",
    "Programme",
    "ProgrammeError",
    "compare",
    "evaluate",
    "event_horizon",
    "last_terms",
    "list_programmes",
    "load_programme",
    "parse_programme",
    "programme_folders",
    "rule_differences",
    "term_bounds",
]
