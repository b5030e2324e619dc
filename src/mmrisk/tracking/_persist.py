"""How a fitted model is stored in the MLflow artifact store: skops, not pickle, where it can be.

``skops.io`` (the format scikit-learn's documentation recommends over pickle) stores an object
as a zip of JSON and numpy arrays and, on load, builds only types that are trusted by default
(scikit-learn, numpy, scipy, builtins) or listed by the caller. :data:`TRUSTED_TYPES` lists
every other type a model of mmrisk's catalogue holds (every kind of :data:`~mmrisk.models.
MODEL_KINDS` and :data:`~mmrisk.models.COMPETING_MODEL_KINDS`, grid searches, recalibrated
models, every registered feature step): mmrisk's own estimators and transformers,
scikit-survival's estimators and step functions, one function referenced by a
``FunctionTransformer``. XGBoost boosters are stored as XGBoost's own JSON model (bytes; see
:meth:`mmrisk.models.XGBCox.__getstate__`), so no XGBoost object needs trusting.

A fitted object holding any other type (a custom pipeline step from outside mmrisk) cannot be
loaded by skops without trusting that type, so it is stored with joblib (pickle) as before,
with a warning in the log; models logged before this format (``estimator.joblib``) load as
they did. Either file is checked against its SHA-256 recorded in the tracking store before it
is read (:func:`mmrisk.tracking.load_model`).
"""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path
from typing import Any

from mmrisk.exceptions import MMRiskError

__all__ = ["ESTIMATOR_FILES", "TRUSTED_TYPES", "estimator_path", "load_estimator",
           "save_estimator"]

log = logging.getLogger(__name__)

#: File names of the estimator artifact, by format (the first is written when possible).
ESTIMATOR_FILES = {"skops": "estimator.skops", "joblib": "estimator.joblib"}

#: Types beyond skops' defaults that an mmrisk model may hold; nothing else is built on load.
TRUSTED_TYPES = (
    "mmrisk.features._cytogenetics.HighRiskCACount",
    "mmrisk.features._encoding.ColumnsOfKind",
    "mmrisk.features._encoding.DropCollinear",
    "mmrisk.features._encoding.ReferenceOneHotEncoder",
    "mmrisk.features._encoding.SelectColumns",
    "mmrisk.features._encoding.as_category_strings",
    "mmrisk.features._renal.EGFR_CKDEPI2021",
    "mmrisk.features._response.ResponseDepth",
    "mmrisk.features._staging.ISS",
    "mmrisk.features._staging.R2ISS",
    "mmrisk.features._staging.RISS",
    "mmrisk.models._competing.CauseSpecificCoxPH",
    "mmrisk.models._competing.CauseSpecificCoxnet",
    "mmrisk.models._competing.FineGray",
    "mmrisk.models._cox.CoxPH",
    "mmrisk.models._coxnet.CoxnetCV",
    "mmrisk.models._cv.EventStratifiedKFold",
    "mmrisk.models._forest.GridRandomSurvivalForest",
    "mmrisk.models._recalibrate.RecalibratedSurvival",
    "mmrisk.models._search.SurvivalGridSearchCV",
    "mmrisk.models._xgb.XGBAFT",
    "mmrisk.models._xgb.XGBCox",
    "numpy.dtype",
    "sklearn.metrics._scorer._PassthroughScorer",
    "sklearn.tree._tree.Tree",
    "sksurv.ensemble.boosting.GradientBoostingSurvivalAnalysis",
    "sksurv.ensemble.survival_loss.CoxPH",
    "sksurv.functions.StepFunction",
    "sksurv.linear_model.coxnet.CoxnetSurvivalAnalysis",
    "sksurv.linear_model.coxph.BreslowEstimator",
    "sksurv.tree.tree.SurvivalTree",
)


def save_estimator(fitted: Any, folder: str | Path) -> Path:
    """Write ``fitted`` into ``folder`` with skops, or joblib if skops cannot cover it.

    Parameters
    ----------
    fitted : estimator
        The fitted model (feature pipeline + survival model).
    folder : str or pathlib.Path
        An existing folder.

    Returns
    -------
    pathlib.Path
        ``folder/estimator.skops``, or ``folder/estimator.joblib`` when the object holds a type
        outside skops' defaults and :data:`TRUSTED_TYPES` (the types are named in the log).
    """
    import skops.io as sio

    path = Path(folder) / ESTIMATOR_FILES["skops"]
    try:
        sio.dump(fitted, path, compression=zipfile.ZIP_DEFLATED, compresslevel=1)
        foreign = sorted(set(sio.get_untrusted_types(file=path)) - set(TRUSTED_TYPES))
    except Exception as e:  # noqa: BLE001 - skops cannot persist some object: pickle it
        foreign = [f"({type(e).__name__} from skops)"]
    if not foreign:
        return path
    path.unlink(missing_ok=True)
    log.warning("the model holds types mmrisk does not trust for skops (%s): stored with "
                "joblib (pickle), which runs code when loaded", ", ".join(foreign))
    import joblib

    path = Path(folder) / ESTIMATOR_FILES["joblib"]
    joblib.dump(fitted, path)
    return path


def estimator_path(folder: str | Path) -> Path:
    """The estimator file of a model's ``artifacts`` folder (skops first, then joblib).

    Parameters
    ----------
    folder : str or pathlib.Path
        The ``artifacts`` folder of a logged mmrisk model.

    Returns
    -------
    pathlib.Path
        The file that exists (the skops name when neither does).
    """
    for name in ESTIMATOR_FILES.values():
        if (Path(folder) / name).exists():
            return Path(folder) / name
    return Path(folder) / ESTIMATOR_FILES["skops"]


def load_estimator(path: str | Path) -> Any:
    """Read an estimator file written by :func:`save_estimator` (or an older joblib file).

    A ``.skops`` file is read by skops with :data:`TRUSTED_TYPES` only: a file naming any
    other type is refused before anything is built. A ``.joblib`` file is unpickled, which runs
    code: check its digest first.

    Parameters
    ----------
    path : str or pathlib.Path
        ``estimator.skops`` or ``estimator.joblib``.

    Returns
    -------
    estimator
        The fitted model.

    Raises
    ------
    mmrisk.exceptions.MMRiskError
        If a skops file holds a type outside skops' defaults and :data:`TRUSTED_TYPES`, or
        cannot be read.
    """
    path = Path(path)
    if path.suffix != ".skops":
        import joblib

        return joblib.load(path)  # pickle: the caller verified the digest first
    import skops.io as sio

    try:
        foreign = sorted(set(sio.get_untrusted_types(file=path)) - set(TRUSTED_TYPES))
    except Exception as e:  # noqa: BLE001 - not a skops file
        raise MMRiskError(f"{path.name}: not a readable skops file ({type(e).__name__})"
                          ) from None
    if foreign:
        raise MMRiskError(f"{path.name}: holds types mmrisk does not load ({', '.join(foreign)});"
                          " refusing to build them. Retrain and log the model with mmrisk")
    return sio.load(path, trusted=list(TRUSTED_TYPES))
