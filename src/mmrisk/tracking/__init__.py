"""MLflow: store setup, the train job's runs, the pyfunc model, registry aliases, leaderboard."""

from mmrisk.tracking._compare import latest_leaderboard
from mmrisk.tracking._pyfunc import LoadedModel, MMRiskPyfunc, load_model
from mmrisk.tracking._store import DEFAULT_TRACKING_URI, resolve_tracking_uri, setup_experiment
from mmrisk.tracking._train import (
    TrainResult,
    leaderboard,
    synthetic_example,
    train,
    training_profile,
)

__all__ = ["DEFAULT_TRACKING_URI", "LoadedModel", "MMRiskPyfunc", "TrainResult",
           "latest_leaderboard", "leaderboard", "load_model", "resolve_tracking_uri",
           "setup_experiment", "synthetic_example", "train", "training_profile"]
