"""Conventions every layer shares: the time unit, clinical cut-offs, registry ↔ feature names.

One home for facts that would otherwise be written twice: the registry simulator, the validator,
the cohort builder, the feature transformers and the scoring checks all read them from here.
"""

from __future__ import annotations

__all__ = [
    "ALBUMIN_LOW",
    "BETA2M_HIGH",
    "BETA2M_LOW",
    "CYTO_COLUMNS",
    "DERIVED_CODES",
    "FEATURE_SOURCES",
    "FLAG_FEATURES",
    "MISSING_TEXT",
    "MONTH_DAYS",
]

#: Days per month: time is in months (365.25 / 12 days) from the landmark.
MONTH_DAYS = 30.4375

#: ISS cut-offs (Greipp 2005): β2-microglobulin in mg/L, albumin in g/L.
BETA2M_LOW = 3.5
BETA2M_HIGH = 5.5
ALBUMIN_LOW = 35.0

#: Registry abnormality code (``cytogenetics.abnormality``) → cohort feature name.
CYTO_COLUMNS = {"del17p": "del17p", "t(4;14)": "t_4_14", "t(14;16)": "t_14_16",
                "gain1q": "gain1q", "amp1q": "amp1q"}

#: Cohort features whose registry column has another name: feature → (table, column).
#: Features not listed keep the registry column's own name.
FEATURE_SOURCES = {
    "age": ("patients", "age_at_diagnosis"),
    "ecog": ("patients", "ecog_at_diagnosis"),
    "lm_start_dose_mg": ("maintenance_episodes", "starting_dose_mg"),
    "lm_schedule": ("maintenance_episodes", "schedule"),
    "induction_regimen": ("treatment_lines", "regimen_code"),
    "response_pre_asct": ("transplants", "response_pre_asct"),
    "response_day100": ("response_assessments", "imwg_response"),
    **{feature: ("cytogenetics", "result") for feature in CYTO_COLUMNS.values()},
}

#: Codes of cohort features derived from several registry columns.
DERIVED_CODES = {"mrd_status": ("negative", "positive", "not_tested")}

#: 0/1 cohort features.
FLAG_FEATURES = frozenset({"second_induction", "tandem_asct", "lm_by_landmark"})

#: Text read as missing (pandas' CSV defaults, case-sensitive: ``'none'`` is a heavy-chain code).
MISSING_TEXT = frozenset({"", "NA", "N/A", "n/a", "NaN", "nan", "-nan", "NULL", "null", "None",
                          "<NA>", "#N/A"})
