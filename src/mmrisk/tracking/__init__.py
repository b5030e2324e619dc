"""MLflow: the store, runs' leaderboard, the model registry and the pyfunc class.

Nothing here runs a workflow (train, score, ...: :mod:`mmrisk.workflows`); loading a model
(:func:`load_model`, or ``mlflow.pyfunc.load_model``) imports only this package, the prediction
core (:mod:`mmrisk.predict`) and what the pickled estimator needs.
"""

from mmrisk.tracking._compare import (
    RUN_TYPE_TAG,
    evaluation_runs,
    latest_leaderboard,
    lower_is_better,
)
from mmrisk.tracking._models import log_model, model_source, register_model, register_version
from mmrisk.tracking._pyfunc import (
    DIGEST_ENV,
    DIGEST_TAGS,
    LoadedModel,
    MMRiskPyfunc,
    load_model,
    recorded_digests,
    upgrade_meta,
)
from mmrisk.tracking._runs import (
    describe_state,
    mark_killed,
    process_alive,
    process_tags,
    reap_dead_runs,
    run_state,
)
from mmrisk.tracking._store import (
    DEFAULT_TRACKING_URI,
    artifact_root,
    prepare_store,
    relocate_store,
    resolve_tracking_uri,
    setup_experiment,
    sqlite_path,
    store_lock,
    using_store,
)

__all__ = [
    "DEFAULT_TRACKING_URI",
    "DIGEST_ENV",
    "DIGEST_TAGS",
    "RUN_TYPE_TAG",
    "LoadedModel",
    "MMRiskPyfunc",
    "artifact_root",
    "describe_state",
    "evaluation_runs",
    "latest_leaderboard",
    "load_model",
    "log_model",
    "lower_is_better",
    "mark_killed",
    "model_source",
    "prepare_store",
    "process_alive",
    "process_tags",
    "reap_dead_runs",
    "recorded_digests",
    "register_model",
    "register_version",
    "relocate_store",
    "resolve_tracking_uri",
    "run_state",
    "setup_experiment",
    "sqlite_path",
    "store_lock",
    "upgrade_meta",
    "using_store",
]
