"""``explain``: SHAP values of a fitted mmrisk model, per clinical feature."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from mmrisk.exceptions import MMRiskError
from mmrisk.explain._aggregate import aggregate_columns, column_assignment, display_values
from mmrisk.explain._agnostic import agnostic_shap
from mmrisk.explain._base import (
    Explanation,
    OutputSpec,
    parse_output,
)
from mmrisk.explain._input import ModelInput
from mmrisk.explain._linear import _affine, linear_parts
from mmrisk.explain._outputs import output_function
from mmrisk.explain._trees import tree_explainer, tree_kind
from mmrisk.features import lineage as feature_lineage
from mmrisk.models import split_model
from mmrisk.progress import Progress, report

__all__ = ["explain"]

_METHODS = ("auto", "tree", "linear", "permutation", "kernel")
#: Rows per TreeSHAP call between progress reports.
_TREE_CHUNK = 1024
#: Default background sizes: interventional TreeSHAP and permutation (sample), kernel (k-means).
_DEFAULT_BACKGROUND = {"tree": 100, "permutation": 100, "kernel": 20, "linear": None}


def _as_frame(X: Any, estimator: Any) -> pd.DataFrame:
    if isinstance(X, pd.DataFrame):
        return X
    arr = np.asarray(X)
    if arr.ndim != 2:
        raise MMRiskError(f"X must be a 2-d table; got an array of shape {arr.shape}.")
    names = getattr(estimator, "feature_names_in_", None)
    cols = [str(c) for c in names] if names is not None else [f"x{i}" for i in range(arr.shape[1])]
    return pd.DataFrame(arr, columns=cols)


def _transform(features: Any, X: pd.DataFrame) -> pd.DataFrame:
    if features is None:
        return X.astype(float)
    Z = features.transform(X)
    if isinstance(Z, pd.DataFrame):
        return Z.astype(float).set_axis(X.index, axis=0)
    names = [str(c) for c in features.get_feature_names_out()]
    return pd.DataFrame(np.asarray(Z, dtype=float), columns=names, index=X.index)


def _given_input(model_input: Any, features: Any, X: pd.DataFrame) -> pd.DataFrame:
    """The caller's model input rows as :func:`_transform` would give them."""
    if len(model_input) != len(X):
        raise MMRiskError(
            f"model_input has {len(model_input)} rows; X has {len(X)}: pass the feature "
            "pipeline's output for exactly the rows of X."
        )
    if not isinstance(model_input, pd.DataFrame):
        names = (
            [str(c) for c in features.get_feature_names_out()]
            if features is not None
            else [str(c) for c in X.columns]
        )
        return pd.DataFrame(np.asarray(model_input, dtype=float), columns=names, index=X.index)
    Z = model_input.astype(float, copy=False)
    if not Z.index.equals(X.index):
        Z = Z.set_axis(X.index, axis=0)
    return Z


def _lineage(features: Any, X: pd.DataFrame, Z: pd.DataFrame) -> dict[str, list[str]]:
    if features is None:
        return {c: [c] for c in Z.columns}
    return feature_lineage(features, [str(c) for c in X.columns])


def _choose(method: str, estimator: Any, Z: np.ndarray, bg: np.ndarray) -> tuple[str, Any]:
    """The method, and for an affine model its coefficients and risk scores of ``Z``, ``bg``."""
    if method not in _METHODS:
        raise MMRiskError(f"method must be one of {list(_METHODS)}; got {method!r}.")
    if method != "auto":
        return method, None
    if tree_kind(estimator) is not None:
        return "tree", None
    found = _affine(estimator, [Z, bg])
    return ("linear", found) if found is not None else ("permutation", None)


def _background(
    background: Any, features: Any, X: pd.DataFrame, Z: pd.DataFrame, namer: Any
) -> np.ndarray:
    if background is None:
        return Z.to_numpy(dtype=float)
    if isinstance(background, ModelInput):
        cols = background.columns
        return cols.to_numpy(dtype=float) if isinstance(cols, pd.DataFrame) else np.asarray(
            cols, dtype=float
        )
    frame = _as_frame(background, namer)
    if isinstance(background, pd.DataFrame) and list(frame.columns) != list(X.columns):
        frame = frame[list(X.columns)]
    return _transform(features, frame).to_numpy(dtype=float)


def _sample(rows: np.ndarray, size: int | None, random_state: int | None) -> np.ndarray:
    if size is None or len(rows) <= size:
        return rows
    rng = np.random.default_rng(random_state)
    return rows[np.sort(rng.choice(len(rows), size=size, replace=False))]


def _run_tree(
    estimator: Any,
    spec: OutputSpec,
    Z: np.ndarray,
    bg: np.ndarray,
    feature_perturbation: str,
    progress: Progress | None,
) -> tuple[np.ndarray, float, OutputSpec, dict[str, Any]]:
    explained = spec if tree_kind(estimator) == "forest" else OutputSpec("risk")
    start = time.perf_counter()
    engine = tree_explainer(estimator, explained.name, feature_perturbation, bg)
    n = len(Z)
    report(progress, "explain", 0, n)
    phi = np.zeros(Z.shape)
    for lo in range(0, n, _TREE_CHUNK):
        hi = min(lo + _TREE_CHUNK, n)
        phi[lo:hi] = engine(Z[lo:hi])
        report(progress, "explain", hi, n)
    return phi, engine.base_value, explained, {"seconds": time.perf_counter() - start}


def _run(
    method: str,
    estimator: Any,
    spec: OutputSpec,
    Z: np.ndarray,
    bg: np.ndarray,
    options: dict[str, Any],
) -> tuple[np.ndarray, float, OutputSpec, dict[str, Any]]:
    progress = options["progress"]
    if method == "tree":
        fp = options["feature_perturbation"]
        return _run_tree(estimator, spec, Z, bg if fp == "interventional" else None, fp, progress)
    if method == "linear":
        start = time.perf_counter()
        report(progress, "explain", 0, len(Z))
        if options.get("affine") is not None:  # checked by _choose on exactly these rows
            coef, (prediction, pred_bg) = options["affine"]
            base = float(np.mean(pred_bg))
            phi = Z - bg.mean(axis=0)
            phi *= coef  # in place: (Z - mean) * coef, one array instead of two
        else:
            phi, base, _, prediction = linear_parts(estimator, Z, bg)
        seconds = time.perf_counter() - start
        report(progress, "explain", len(Z), len(Z))
        return phi, base, OutputSpec("risk"), {"seconds": seconds, "prediction": prediction}
    f = output_function(estimator, spec)
    phi, base, info = agnostic_shap(
        f,
        Z,
        bg,
        method=method,
        max_evals=options["max_evals"],
        background_size=options["background_size"],
        random_state=options["random_state"],
        progress=progress,
    )
    return phi, base, spec, info


def explain(
    model: Any,
    X: Any,
    *,
    output: str = "risk",
    background: Any = None,
    method: str = "auto",
    feature_perturbation: str = "tree_path_dependent",
    multi_input: str = "derived",
    max_background: int | None = None,
    max_evals: int | str = "auto",
    random_state: int | None = 0,
    progress: Progress | None = None,
    model_input: Any = None,
) -> Explanation:
    """SHAP values of a fitted model's output, per clinical feature and per model column.

    Parameters
    ----------
    model : fitted sklearn.pipeline.Pipeline or estimator
        Feature steps followed by a scikit-survival estimator (the last step, ``'model'``); a
        search object with ``best_estimator_`` (``GridSearchCV``) is unwrapped, as the last step
        or around the whole pipeline. An estimator alone is explained on its input columns.
    X : pandas.DataFrame of shape (n_samples, n_inputs)
        Patients to explain, as they enter the pipeline.
    output : str, default='risk'
        ``'risk'`` (what ``predict`` returns), ``'surv_<h>m'`` or ``'chf_<h>m'`` (survival
        probability or cumulative hazard ``h`` months after the landmark). Survival forests are
        explained exactly on every output. Gradient boosting (scikit-survival's and XGBoost's)
        and Cox-type models are additive in their risk score, so their values explain
        ``'risk'`` and the requested output is reported alongside (``Explanation.reported``);
        ask ``method='permutation'`` to decompose it directly.
    background : pandas.DataFrame or ModelInput, default=None
        Reference patients (same columns as ``X``), e.g. the training data. Used by linear,
        interventional tree and model-agnostic methods; ``None`` uses ``X``. A
        :class:`ModelInput` (:func:`transform_for_explain` of the reference patients) is used as
        it is, without running the feature pipeline again.
    method : {'auto', 'tree', 'linear', 'permutation', 'kernel'}, default='auto'
        ``'auto'``: exact TreeSHAP for scikit-survival forests, survival trees and Cox-loss
        gradient boosting, XGBoost's own TreeSHAP (``pred_contribs``) for the ``xgb_cox`` and
        ``xgb_aft`` models; exact linear SHAP for models affine in their input (Cox); else
        shap's permutation explainer.
    feature_perturbation : {'tree_path_dependent', 'interventional'}, \
default='tree_path_dependent'
        For tree models: condition on the training cover of each node, or replace absent
        features by background values. Linear and model-agnostic methods are interventional.
    multi_input : {'derived', 'split'}, default='derived'
        How a column derived from several inputs is attributed (see
        :func:`mmrisk.explain.column_assignment`).
    max_background : int or None, default=None
        Background rows kept (sampled; k-means for the kernel method). ``None``: 100 for tree
        and permutation, 20 for kernel, all rows for linear.
    max_evals : int or 'auto', default='auto'
        Model evaluations per row of the permutation / kernel explainers.
    random_state : int or None, default=0
        Seed of background sampling and permutations.
    progress : callable or None, default=None
        Called with :class:`mmrisk.explain.ExplainProgress`: once before the first row (with
        the time estimate for model-agnostic methods), then as rows are done.
    model_input : ModelInput, pandas.DataFrame or array-like, default=None
        The rows of ``X`` after the feature pipeline (what the final estimator sees), when the
        caller has them already (e.g. from predicting the same rows): the pipeline is then not
        run again on ``X``. Must be the pipeline's output for these rows, in the same order;
        a :class:`ModelInput` from :func:`transform_for_explain` also carries the derived
        values shown for derived features. ``None`` transforms ``X``.

    Returns
    -------
    Explanation
        ``values`` per clinical feature, ``column_values`` per model column, ``base_value``
        and the model's own ``prediction``; ``base_value + values.sum(1) == prediction``.

    Raises
    ------
    mmrisk.exceptions.MMRiskError
        If the output, method or perturbation is unknown, the method does not apply to the
        model, or ``model_input`` does not have one row per row of ``X``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from sklearn.pipeline import Pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sksurv.ensemble import RandomSurvivalForest
    >>> from sksurv.util import Surv
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"age": rng.normal(60, 8, 80), "b2m": rng.gamma(2, 2, 80)})
    >>> y = Surv.from_arrays(rng.random(80) < 0.7, rng.exponential(30, 80))
    >>> pipe = Pipeline([("scale", StandardScaler()),
    ...                  ("model", RandomSurvivalForest(n_estimators=5, random_state=0))])
    >>> pipe = pipe.set_output(transform="pandas").fit(X, y)
    >>> expl = explain(pipe, X.head(3), output="surv_24m")
    >>> bool(np.all(expl.local_accuracy_error() < 1e-9))
    True
    """
    spec = parse_output(output)
    if feature_perturbation not in ("tree_path_dependent", "interventional"):
        raise MMRiskError(
            "feature_perturbation must be 'tree_path_dependent' or 'interventional'; got "
            f"{feature_perturbation!r}."
        )
    features, estimator = split_model(model)
    namer = estimator if features is None else features
    X = _as_frame(X, namer)
    if len(X) == 0:
        raise MMRiskError("X has no rows to explain.")
    intermediate = None
    if model_input is None:
        Zf = _transform(features, X)
    else:
        if isinstance(model_input, ModelInput):
            intermediate, model_input = model_input.intermediate, model_input.columns
        Zf = _given_input(model_input, features, X)
    Z = Zf.to_numpy(dtype=float)
    bg_all = _background(background, features, X, Zf, namer)
    chosen, affine = _choose(method, estimator, Z, bg_all)
    size = max_background if max_background is not None else _DEFAULT_BACKGROUND[chosen]
    bg = _sample(bg_all, size, random_state) if chosen != "kernel" else bg_all
    options = {
        "feature_perturbation": feature_perturbation,
        "max_evals": max_evals,
        "background_size": size or len(bg_all),
        "random_state": random_state,
        "progress": progress,
        "affine": affine if bg is bg_all else None,
    }
    phi, base, explained, info = _run(chosen, estimator, spec, Z, bg, options)
    return _assemble(
        phi, base, explained, spec, chosen, feature_perturbation, info,
        model_parts=(features, estimator), frames=(X, Zf), multi_input=multi_input,
        n_background=len(bg), intermediate=intermediate,
    )


def _assemble(
    phi: np.ndarray,
    base: float,
    explained: OutputSpec,
    spec: OutputSpec,
    method: str,
    feature_perturbation: str,
    info: dict[str, Any],
    *,
    model_parts: tuple[Any, Any],
    frames: tuple[pd.DataFrame, pd.DataFrame],
    multi_input: str,
    n_background: int,
    intermediate: dict[str, pd.Series] | None = None,
) -> Explanation:
    features, estimator = model_parts
    X, Zf = frames
    prediction = info.pop("prediction", None)
    if prediction is None:
        prediction = output_function(estimator, explained)(Zf)
    reported = pd.DataFrame(index=X.index)
    if explained != spec:
        reported[spec.name] = output_function(estimator, spec)(Zf)
    column_values = pd.DataFrame(phi, index=X.index, columns=Zf.columns)
    assignment = column_assignment(
        [str(c) for c in Zf.columns], _lineage(features, X, Zf), multi_input=multi_input
    )
    values = aggregate_columns(column_values, assignment, [str(c) for c in X.columns])
    data = display_values(list(values.columns), X, Zf, assignment, features, intermediate)
    error = np.abs(base + phi.sum(axis=1) - prediction)
    meta = {
        "model": type(estimator).__name__,
        "n_background": n_background,
        "multi_input": multi_input,
        "max_local_error": float(error.max()) if len(error) else 0.0,
        **info,
    }
    used = feature_perturbation if method == "tree" else "interventional"
    return Explanation(
        values=values,
        base_value=float(base),
        prediction=prediction,
        data=data,
        column_values=column_values,
        column_data=Zf,
        output=explained.name,
        requested=spec.name,
        method=method,
        feature_perturbation=used,
        assignment=assignment,
        reported=reported,
        meta=meta,
    )
