"""Exact TreeSHAP for scikit-survival's tree models, on trees in ``shap.TreeExplainer``'s format.

The fitted trees are converted into the tree format ``shap.TreeExplainer`` accepts (a dict
``{"trees": [...], "base_offset": ...}``, each tree a dict of ``children_left``,
``children_right``, ``children_default``, ``features``, ``thresholds``, ``values`` and
``node_sample_weight``), with leaf values for the output being explained.

Survival forests (``RandomSurvivalForest``, ``ExtraSurvivalTrees``) and ``SurvivalTree``
--------------------------------------------------------------------------------------
In scikit-survival 0.28 a survival tree's ``tree_.value`` has shape
``(n_nodes, n_unique_times, 2)``: ``[..., 0]`` is the node's Nelson–Aalen cumulative hazard
and ``[..., 1]`` its Kaplan–Meier survival function, both at the model's ``unique_times_``.
With ``low_memory=True`` it has shape ``(n_nodes, 1, 1)`` and holds the risk score only.
The forest's outputs are means over trees of tree outputs, so each is an exact tree ensemble
(every tree's leaf values divided by the number of trees):

- ``risk`` (``predict``): ``value[:, is_event_time_, 0].sum(1)`` (``value[:, 0, 0]`` in low
  memory mode), the cumulative hazard summed over the event times;
- ``chf_<h>m``: ``value[:, i, 0]`` and ``surv_<h>m``: ``value[:, i, 1]``, with ``i`` the last
  unique time ``<= h`` (the first one before it, the last one beyond it), as
  :class:`sksurv.functions.StepFunction` evaluates them.

Gradient boosting (``GradientBoostingSurvivalAnalysis``, ``loss='coxph'``)
------------------------------------------------------------------------
``predict`` is the log hazard ratio ``sum_m learning_rate * scale_m * tree_m(x)`` (``scale_m``
is 1 without dropout; the model starts from zero). That sum is the additive output that is
explained; survival and cumulative hazard at a horizon are monotone transforms of it through
the Breslow baseline and are reported alongside, not decomposed.

Inputs are rounded to float32 before they reach the trees, as scikit-learn does, so that
every sample takes the same path as in ``predict``.

The values are computed by the float64 numba kernels of :mod:`mmrisk.explain._fastshap` on the
converted trees (the same dict ``shap.TreeExplainer`` accepts; tests check that both agree to
1e-12): the path-dependent kernel is about 10x faster than shap's on deep forest trees, and
shap's interventional kernel accumulates in single precision (local accuracy ~1e-7 relative).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sksurv.ensemble import (
    ExtraSurvivalTrees,
    GradientBoostingSurvivalAnalysis,
    RandomSurvivalForest,
)
from sksurv.tree import SurvivalTree

from mmrisk.exceptions import MMRiskError
from mmrisk.explain._base import OutputSpec, parse_output
from mmrisk.explain._outputs import time_index
from mmrisk.explain._xgb import XGBoostShap, is_xgboost_model

__all__ = ["shap_tree_model", "tree_kind", "tree_shap", "as_tree_input"]

_FORESTS = (RandomSurvivalForest, ExtraSurvivalTrees)


def tree_kind(estimator: Any) -> str | None:
    """Which exact tree explainer applies to ``estimator``.

    Parameters
    ----------
    estimator : fitted estimator
        The final survival estimator.

    Returns
    -------
    {'forest', 'boosting', 'xgboost'} or None
        ``'forest'`` for survival forests and trees (every output is a tree ensemble),
        ``'boosting'`` for Cox-loss gradient boosting (the log hazard is), ``'xgboost'`` for
        mmrisk's XGBoost models (the risk score is; explained by XGBoost's own TreeSHAP),
        ``None`` otherwise.
    """
    if isinstance(estimator, (*_FORESTS, SurvivalTree)):
        return "forest"
    if is_xgboost_model(estimator):
        return "xgboost"
    if isinstance(estimator, GradientBoostingSurvivalAnalysis) and estimator.loss == "coxph":
        return "boosting"
    return None


def as_tree_input(Z: Any) -> np.ndarray:
    """Model input as float64 values rounded to float32, the precision trees split on.

    Parameters
    ----------
    Z : array-like of shape (n_samples, n_columns)
        Model input columns.

    Returns
    -------
    numpy.ndarray of shape (n_samples, n_columns), dtype float64
        C-contiguous.
    """
    return np.ascontiguousarray(np.asarray(Z, dtype=np.float32), dtype=np.float64)


def _tree_dict(tree: Any, values: np.ndarray, scale: float) -> dict[str, np.ndarray]:
    """One tree in shap's dict format; ``values`` of shape (n_nodes, n_outputs)."""
    left = np.asarray(tree.children_left, dtype=np.int32)
    right = np.asarray(tree.children_right, dtype=np.int32)
    go_left = getattr(tree, "missing_go_to_left", None)
    default = left if go_left is None else np.where(np.asarray(go_left) != 0, left, right)
    # Copies throughout: shap overwrites node_sample_weight in place when given data.
    return {
        "children_left": left.copy(),
        "children_right": right.copy(),
        "children_default": np.array(default, dtype=np.int32),
        "features": np.array(tree.feature, dtype=np.int32),
        "thresholds": np.array(tree.threshold, dtype=np.float64),
        "values": np.array(values, dtype=np.float64, order="C") * scale,
        "node_sample_weight": np.array(tree.weighted_n_node_samples, dtype=np.float64),
    }


def _survival_leaf_values(
    value: np.ndarray,
    specs: Sequence[OutputSpec],
    times: np.ndarray,
    is_event: np.ndarray,
    low_memory: bool,
) -> np.ndarray:
    """Node values of a survival tree for each requested output: (n_nodes, n_outputs)."""
    cols = []
    for spec in specs:
        if spec.kind == "risk":
            cols.append(value[:, 0, 0] if low_memory else value[:, is_event, 0].sum(axis=1))
            continue
        if low_memory:
            raise MMRiskError(
                f"output {spec.name!r}: the forest was fitted with low_memory=True and keeps no "
                "survival function; refit with low_memory=False or explain output='risk'."
            )
        i = time_index(times, float(spec.horizon))
        cols.append(value[:, i, 0] if spec.kind == "chf" else value[:, i, 1])
    return np.column_stack(cols)


def _forest_trees(estimator: Any, specs: Sequence[OutputSpec]) -> list[dict[str, np.ndarray]]:
    members = [estimator] if isinstance(estimator, SurvivalTree) else list(estimator.estimators_)
    times = np.asarray(estimator.unique_times_, dtype=float)
    is_event = np.asarray(estimator.is_event_time_, dtype=bool)
    low_memory = bool(getattr(estimator, "low_memory", False))
    scale = 1.0 / len(members)
    return [
        _tree_dict(
            m.tree_,
            _survival_leaf_values(m.tree_.value, specs, times, is_event, low_memory),
            scale,
        )
        for m in members
    ]


def _boosting_trees(estimator: Any, specs: Sequence[OutputSpec]) -> list[dict[str, np.ndarray]]:
    bad = [s.name for s in specs if s.kind != "risk"]
    if bad:
        raise MMRiskError(
            f"outputs {bad}: gradient boosting is additive in the log hazard only; explain "
            "output='risk' (survival at a horizon is reported alongside by explain())."
        )
    if getattr(estimator, "init_", "zero") != "zero":
        raise MMRiskError(
            f"{type(estimator).__name__}: only models that start from zero (init='zero') are "
            f"supported by the exact tree explainer; got init_={estimator.init_!r}."
        )
    # Dropout rescales earlier trees; scikit-survival keeps the factors in ``_scale``.
    dropout = getattr(estimator, "_scale", None)
    trees = []
    for m, stage in enumerate(estimator.estimators_):
        factor = 1.0 if dropout is None else float(dropout[m])
        for tree in np.atleast_1d(stage):
            value = tree.tree_.value.reshape(tree.tree_.node_count, -1)[:, :1]
            value = np.repeat(value, len(specs), axis=1)
            trees.append(_tree_dict(tree.tree_, value, estimator.learning_rate * factor))
    return trees


def shap_tree_model(estimator: Any, outputs: str | Sequence[str] = "risk") -> dict[str, Any]:
    """Convert a fitted scikit-survival tree model into a model ``shap.TreeExplainer`` accepts.

    Parameters
    ----------
    estimator : RandomSurvivalForest, ExtraSurvivalTrees, SurvivalTree or \
GradientBoostingSurvivalAnalysis
        Fitted. Gradient boosting must use ``loss='coxph'``.
    outputs : str or sequence of str, default='risk'
        One model output per name: ``'risk'`` (what ``predict`` returns), ``'surv_<h>m'`` or
        ``'chf_<h>m'`` (forests only; one output per horizon).

    Returns
    -------
    dict
        ``{"trees": [...], "base_offset": 0.0, "input_dtype": float64, "internal_dtype":
        float64, "tree_output": "raw_value"}``; every tree a dict of ``children_left``,
        ``children_right``, ``children_default``, ``features``, ``thresholds``, ``values``
        (n_nodes, n_outputs) and ``node_sample_weight``. Pass model input rounded to float32
        (:func:`as_tree_input`).

    Raises
    ------
    mmrisk.exceptions.MMRiskError
        If the estimator is not a supported tree model or cannot give an output.

    Examples
    --------
    >>> import numpy as np, shap
    >>> from sksurv.ensemble import RandomSurvivalForest
    >>> from sksurv.util import Surv
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 3))
    >>> y = Surv.from_arrays(rng.random(60) < 0.7, rng.exponential(10, 60))
    >>> rsf = RandomSurvivalForest(n_estimators=5, random_state=0).fit(X, y)
    >>> explainer = shap.TreeExplainer(shap_tree_model(rsf, "surv_12m"))
    >>> phi = explainer.shap_values(as_tree_input(X[:2]))
    >>> phi.shape
    (2, 3)
    """
    names = [outputs] if isinstance(outputs, str) else list(outputs)
    specs = [parse_output(o) for o in names]
    kind = tree_kind(estimator)
    if kind == "forest":
        trees = _forest_trees(estimator, specs)
    elif kind == "boosting":
        trees = _boosting_trees(estimator, specs)
    else:
        raise MMRiskError(
            f"{type(estimator).__name__} is not a supported tree model (RandomSurvivalForest, "
            "ExtraSurvivalTrees, SurvivalTree, GradientBoostingSurvivalAnalysis with "
            "loss='coxph'); use method='permutation'."
        )
    return {
        "trees": trees,
        "base_offset": 0.0,
        "input_dtype": np.float64,
        "internal_dtype": np.float64,
        "tree_output": "raw_value",
    }


class TreeShap:
    """Exact TreeSHAP of one output of a converted tree model (mmrisk's float64 kernels).

    Parameters
    ----------
    estimator : fitted tree model
        See :func:`shap_tree_model`.
    output : str
        ``'risk'``, ``'surv_<h>m'`` or ``'chf_<h>m'``.
    feature_perturbation : {'tree_path_dependent', 'interventional'}
        Path-dependent uses the training cover of each node; interventional the background.
    background : numpy.ndarray of shape (n_background, n_columns) or None
        Model input rows; required for ``'interventional'``.
    """

    def __init__(
        self,
        estimator: Any,
        output: str,
        feature_perturbation: str,
        background: np.ndarray | None = None,
    ) -> None:
        if feature_perturbation not in ("tree_path_dependent", "interventional"):
            raise MMRiskError(
                "feature_perturbation must be 'tree_path_dependent' or 'interventional'; got "
                f"{feature_perturbation!r}."
            )
        # numba (the kernels' compiler) is imported here, on first use, not with mmrisk.explain
        from mmrisk.explain._fastshap import TreeArrays

        self._trees = TreeArrays(shap_tree_model(estimator, output))
        self._background: np.ndarray | None = None
        if feature_perturbation == "interventional":
            if background is None:
                raise MMRiskError("feature_perturbation='interventional' needs a background.")
            self._background = as_tree_input(background)
            self.base_value = float(self._trees.predict(self._background).mean())
        else:
            self.base_value = self._trees.expected_value()

    def __call__(self, Z: Any) -> np.ndarray:
        """SHAP values of the model input rows ``Z``: (n_samples, n_columns)."""
        from mmrisk.explain._fastshap import interventional_shap, path_dependent_shap

        X = as_tree_input(Z)
        if self._background is None:
            phi, _ = path_dependent_shap(self._trees, X)
        else:
            phi, _ = interventional_shap(self._trees, X, self._background)
        return phi


def tree_explainer(
    estimator: Any,
    output: str,
    feature_perturbation: str,
    background: np.ndarray | None = None,
) -> TreeShap | XGBoostShap:
    """The exact tree explainer of ``estimator``: mmrisk's kernels, or XGBoost's own TreeSHAP.

    Parameters
    ----------
    estimator : fitted tree model
        A model :func:`tree_kind` recognises.
    output : str
        ``'risk'``, ``'surv_<h>m'`` or ``'chf_<h>m'`` (XGBoost and boosting models: ``'risk'``).
    feature_perturbation : {'tree_path_dependent', 'interventional'}
        How absent features are treated.
    background : numpy.ndarray of shape (n_background, n_columns) or None
        Model input rows; required for ``'interventional'``.

    Returns
    -------
    TreeShap or XGBoostShap
        Callable on model input rows, with ``base_value``.
    """
    if tree_kind(estimator) == "xgboost":
        if parse_output(output).kind != "risk":
            raise MMRiskError(
                f"output {output!r}: XGBoost survival models are additive in their risk score "
                "only; explain output='risk' (survival at a horizon is reported alongside by "
                "explain())."
            )
        return XGBoostShap(estimator, feature_perturbation, background)
    return TreeShap(estimator, output, feature_perturbation, background)


def tree_shap(
    estimator: Any,
    Z: Any,
    output: str = "risk",
    *,
    feature_perturbation: str = "tree_path_dependent",
    background: Any = None,
) -> tuple[np.ndarray, float]:
    """Exact TreeSHAP values of a scikit-survival tree model's output.

    Parameters
    ----------
    estimator : fitted tree model
        See :func:`shap_tree_model`; or :class:`~mmrisk.models.XGBCox` /
        :class:`~mmrisk.models.XGBAFT` (risk only; XGBoost's own TreeSHAP).
    Z : array-like of shape (n_samples, n_columns)
        Model input rows (the feature pipeline's output).
    output : str, default='risk'
        ``'risk'``, ``'surv_<h>m'`` or ``'chf_<h>m'``.
    feature_perturbation : {'tree_path_dependent', 'interventional'}, \
default='tree_path_dependent'
        How absent features are treated.
    background : array-like of shape (n_background, n_columns), default=None
        Model input rows; required for ``'interventional'``.

    Returns
    -------
    phi : numpy.ndarray of shape (n_samples, n_columns)
        SHAP values.
    base_value : float
        Expected output; ``base_value + phi.sum(1)`` is the model output.
    """
    bg = None if background is None else np.asarray(background, dtype=float)
    explainer = tree_explainer(estimator, output, feature_perturbation, bg)
    return explainer(Z), explainer.base_value
