"""The prediction core: everything a loaded model needs to turn input rows into predictions.

No MLflow, no matplotlib, no registry, cohort or evaluation code, no file I/O (an import-linter
contract in ``make test`` keeps it so): the pyfunc model, ``mmrisk score`` (pandas and Spark) and
the REST server all call it.

- :func:`check_rows` -- coerce input rows, status ``ok`` / ``warning`` / ``error`` with reasons;
  :func:`unimputed_features` -- which features a model cannot take missing (probed at training).
- :func:`predict_frame` -- check and predict: the scoring output, one row per input row;
  :func:`predict_rows` does the same for rows already checked.
- :func:`learn_cutpoints`, :func:`risk_groups` -- tertile risk groups fixed at training.
- :func:`training_profile`, :func:`reference_rows`, :func:`synthetic_example` -- summaries of the
  training data (never rows), the SHAP background and MLflow's input example built from them.
- :class:`DriftAccumulator` / :func:`drift_report` -- PSI, KS, new categories, missingness and
  risk drift against the training profile.
"""

from mmrisk.predict._checks import STATUSES, check_columns, check_rows, unimputed_features
from mmrisk.predict._drift import (
    MISSING_CHANGE,
    PSI_MAJOR,
    PSI_MODERATE,
    DriftAccumulator,
    DriftReport,
    drift_report,
    psi,
)
from mmrisk.predict._profile import synthetic_example, training_profile
from mmrisk.predict._table import (
    N_REASONS,
    RISK_GROUPS,
    learn_cutpoints,
    output_columns,
    predict_frame,
    predict_rows,
    predict_table,
    reference_rows,
    risk_groups,
)

__all__ = [
    "MISSING_CHANGE",
    "N_REASONS",
    "PSI_MAJOR",
    "PSI_MODERATE",
    "RISK_GROUPS",
    "STATUSES",
    "DriftAccumulator",
    "DriftReport",
    "check_columns",
    "check_rows",
    "drift_report",
    "learn_cutpoints",
    "output_columns",
    "predict_frame",
    "predict_rows",
    "predict_table",
    "psi",
    "reference_rows",
    "risk_groups",
    "synthetic_example",
    "unimputed_features",
    "training_profile",
]
