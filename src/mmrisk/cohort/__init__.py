"""Cohort selection at a landmark: features known then, endpoint, flow and Table 1."""

from mmrisk.cohort._build import (
    COMPETING_ENDPOINT,
    CYTO_COLUMNS,
    EXCLUSION_REASONS,
    META_COLUMNS,
    Cohort,
    build_cohort,
)
from mmrisk.cohort._competing import COMPETING_DTYPE, check_event_codes, competing_outcome
from mmrisk.cohort._load import (
    data_fingerprint,
    ensure_synthetic,
    flat_cohort,
    load_cohort,
    read_flat_table,
)
from mmrisk.cohort._rules import input_rules
from mmrisk.cohort._table1 import table1

__all__ = ["COMPETING_DTYPE", "COMPETING_ENDPOINT", "CYTO_COLUMNS", "Cohort",
           "EXCLUSION_REASONS", "META_COLUMNS", "build_cohort", "check_event_codes",
           "competing_outcome",
           "data_fingerprint", "ensure_synthetic", "flat_cohort", "input_rules", "load_cohort",
           "read_flat_table", "table1"]
