"""Score a cohort with a trained model: input checks, predictions, reasons, drift, chunking.

- :func:`score` -- ``mmrisk score``: a registry extract or a flat table in, one output row per
  input row out (written atomically), plus a drift report beside it.
- :func:`score_frame` -- the same output for a DataFrame in memory (what the pyfunc returns).
- :func:`check_rows` -- row-level input checks (``ok`` / ``warning`` / ``error`` with reasons).
- :func:`drift_report` -- PSI, KS, new categories, missingness and risk drift vs training.
- :func:`score_file_spark` / :func:`score_spark` -- the same pyfunc through Spark
  (``mlflow.pyfunc.spark_udf``); :func:`serve` -- REST on 127.0.0.1 (MLflow's model server).
"""

from mmrisk.scoring._checks import STATUSES, check_columns, check_rows
from mmrisk.scoring._drift import (
    MISSING_CHANGE,
    PSI_MAJOR,
    PSI_MODERATE,
    DriftAccumulator,
    DriftReport,
    drift_report,
    psi,
    write_drift,
)
from mmrisk.scoring._input import ScoringInput, read_scoring_input
from mmrisk.scoring._predict import (
    N_REASONS,
    RISK_GROUPS,
    learn_cutpoints,
    output_columns,
    predict_table,
    reference_rows,
    risk_groups,
    score_checked,
    score_frame,
)
from mmrisk.scoring._score import ScoreResult, score, score_chunk
from mmrisk.scoring._serve import serve, serve_command, serve_env, wait_until_ready
from mmrisk.scoring._spark import (
    get_spark,
    score_file_spark,
    score_spark,
    spark_score,
    with_row_number,
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
    "ScoreResult",
    "ScoringInput",
    "check_columns",
    "check_rows",
    "drift_report",
    "get_spark",
    "learn_cutpoints",
    "output_columns",
    "predict_table",
    "psi",
    "read_scoring_input",
    "reference_rows",
    "risk_groups",
    "score",
    "score_checked",
    "score_chunk",
    "score_file_spark",
    "score_frame",
    "score_spark",
    "serve",
    "serve_command",
    "serve_env",
    "spark_score",
    "wait_until_ready",
    "with_row_number",
    "write_drift",
]
