"""Workflows: what each ``mmrisk`` command does, as library functions the CLI calls once.

- :func:`write_cohort` -- ``cohort build``: analysis table, flow, Table 1, KM figure.
- :func:`train` -- ``train``: cohort → models → identical folds → metrics with CIs → MLflow;
  its fits run locally or on Spark (:func:`fit_backend`, :func:`spark_fit_backend`,
  :class:`SparkFitBackend`; :func:`check_engine` checks ``--engine``/``--master``).
- :func:`score` -- ``score``: one output row per input row, written atomically, with drift;
  :func:`score_table_spark` is the Spark engine (:func:`score_spark`, :func:`spark_score` for
  frames already in memory or in Spark).
- :func:`explain_input` -- ``explain``: SHAP tables and figures for an input file.
- :func:`evaluate` -- ``evaluate``: a fixed model on a new cohort with outcomes (metrics with
  CIs, decision curves, subgroups, centre heterogeneity, figures, an MLflow run);
  :func:`recalibrate_model` -- ``recalibrate``: a registered update for a new setting.
- :func:`build_report` / :func:`write_report` -- ``report``: the TRIPOD+AI HTML report of a
  train run or a model (:func:`report_data` gathers its content; ``train`` logs it with
  :func:`log_report`).
- :func:`serve` / :func:`ui` -- the model server (JSON or CSV) and MLflow's UI on 127.0.0.1, in
  the foreground;
  :func:`server` -- ``server``: a team's tracking server (database backend, proxied artifacts).
- :func:`interruptible` / :func:`kill_runs_on_interrupt` -- SIGTERM, SIGHUP and SIGINT unwind a
  workflow (:class:`Interrupted`): temporary files removed, its MLflow runs marked KILLED.
"""

from mmrisk.workflows._cohort import CohortFiles, write_cohort
from mmrisk.workflows._evaluate import (
    EvaluationCohort,
    EvaluationResult,
    evaluate,
    evaluation_cohort,
)
from mmrisk.workflows._explain import ExplainResult, explain_input
from mmrisk.workflows._input import ScoringInput, identifier_column, read_scoring_input
from mmrisk.workflows._lifecycle import (
    Interrupted,
    interruptible,
    kill_runs_on_interrupt,
    signals_raise,
)
from mmrisk.workflows._recalibrate import RecalibrationResult, recalibrate_model
from mmrisk.workflows._report import build_report, log_report, report_data, write_report
from mmrisk.workflows._report_competing import competing_report_data  # noqa: F401 (registers)
from mmrisk.workflows._score import (
    ScoreResult,
    drift_paths,
    remove_orphans,
    score,
    score_chunk,
    write_drift,
)
from mmrisk.workflows._serve import (
    serve,
    serve_command,
    serve_env,
    server,
    server_command,
    ui,
    ui_command,
    wait_until_ready,
)
from mmrisk.workflows._spark import (
    get_spark,
    score_file_spark,
    score_spark,
    score_table_spark,
    spark_score,
    with_row_number,
)
from mmrisk.workflows._spark_train import (
    SparkFitBackend,
    check_engine,
    fit_backend,
    spark_fit_backend,
)
from mmrisk.workflows._train import TrainResult, leaderboard, train

__all__ = [
    "CohortFiles",
    "EvaluationCohort",
    "EvaluationResult",
    "RecalibrationResult",
    "ExplainResult",
    "Interrupted",
    "ScoreResult",
    "ScoringInput",
    "SparkFitBackend",
    "TrainResult",
    "build_report",
    "check_engine",
    "drift_paths",
    "evaluate",
    "evaluation_cohort",
    "explain_input",
    "fit_backend",
    "get_spark",
    "identifier_column",
    "interruptible",
    "kill_runs_on_interrupt",
    "leaderboard",
    "log_report",
    "read_scoring_input",
    "recalibrate_model",
    "remove_orphans",
    "report_data",
    "score",
    "score_chunk",
    "score_file_spark",
    "score_spark",
    "score_table_spark",
    "serve",
    "serve_command",
    "serve_env",
    "server",
    "server_command",
    "signals_raise",
    "spark_fit_backend",
    "spark_score",
    "train",
    "ui",
    "ui_command",
    "wait_until_ready",
    "with_row_number",
    "write_drift",
    "write_report",
    "write_cohort",
]
