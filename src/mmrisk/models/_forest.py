"""Random survival forest on a coarse time grid: the same model, a bounded size on disk.

scikit-survival's survival trees keep, at every node, the cumulative hazard and the survival
function at every unique time of the training data (``tree_.value`` has shape
``(n_nodes, n_unique_times, 2)``, float64). A forest's pickle therefore grows with
``n_trees x n_nodes x n_unique_times``: with ~700 patients and continuous follow-up times that is
0.4 MB per tree at ``min_samples_leaf=15`` (1.5 MB at 3), and both factors grow with every
patient added (0.12 and 0.44 MB on the half-month grid).

:class:`GridRandomSurvivalForest` rounds every observed time *up* to a grid of ``time_grid``
months before fitting. The number of stored time points is then at most
``max(time) / time_grid`` whatever the number of patients (240 for 10 years at half a month),
and every output keeps its meaning:

- ``unique_times_`` / ``is_event_time_`` are the grid points that hold a censoring / an event
  time, and ``tree_.value`` is evaluated there (so :mod:`mmrisk.explain` reads them as before);
- for a horizon ``h`` on the grid (whole or half months, e.g. 12, 24, 36, 60) an event is
  counted by ``h`` exactly when its true time is ``<= h`` (``ceil(t / g) * g <= h`` iff
  ``t <= h``). Within a grid interval the product-limit telescopes, so a node's ``S(h)`` is
  the Kaplan-Meier estimate of its uncoarsened data at ``h`` whenever no censoring falls
  inside an interval before ``h``; a patient censored inside an interval counts as at risk
  to its end (on the synthetic registry's cohort the Kaplan-Meier moves by < 0.002 at 12-60
  months);
- between grid points the step functions are held, so ``S(t)`` for an off-grid ``t`` is the
  estimate at the grid point below it (at most ``time_grid`` earlier).

``predict`` (the risk score) is the cumulative hazard summed over the grid points that hold an
event, instead of over every distinct event time.
"""

from __future__ import annotations

from numbers import Real
from typing import Any

import numpy as np
from sklearn.utils._param_validation import Interval
from sksurv.ensemble import RandomSurvivalForest
from sksurv.util import Surv, check_array_survival

__all__ = ["GridRandomSurvivalForest", "coarsen_times"]

#: Default grid of :class:`GridRandomSurvivalForest`, in months (about 15 days).
DEFAULT_TIME_GRID = 0.5


def coarsen_times(time: Any, grid: float) -> np.ndarray:
    """Round times up to the next multiple of ``grid`` (a time on the grid stays where it is).

    Parameters
    ----------
    time : array-like of shape (n_samples,)
        Non-negative times.
    grid : float
        Grid spacing, > 0.

    Returns
    -------
    ndarray of shape (n_samples,)
        ``ceil(time / grid) * grid``, computed so that grid points are exact (no ``12.0000001``
        from floating-point division).
    """
    t = np.asarray(time, dtype=float)
    steps = np.ceil(np.round(t / grid, 9))
    return np.round(steps * grid, 9)


class GridRandomSurvivalForest(RandomSurvivalForest):
    """:class:`sksurv.ensemble.RandomSurvivalForest` fitted on times rounded up to a grid.

    Every parameter of scikit-survival's forest, with its default, plus ``time_grid``. See the
    module docstring for what the grid changes (the size of the model) and what it does not
    (the estimates at horizons on the grid). The forest's parameters are passed on unchanged;
    :class:`sksurv.ensemble.RandomSurvivalForest` documents them in full.

    Parameters
    ----------
    n_estimators : int, default=100
        Number of trees.
    time_grid : float or None, default=0.5
        Grid spacing in the unit of the outcome's time (months): observed times are rounded up
        to a multiple of it before fitting. ``None`` fits on the times as they are (exactly
        scikit-survival's forest).
    max_depth : int or None, default=None
        Maximum depth of a tree; ``None`` grows each tree until the leaf-size limits stop it.
    min_samples_split : int or float, default=6
        Minimum number (int) or fraction (float) of samples needed to split a node.
    min_samples_leaf : int or float, default=3
        Minimum number (int) or fraction (float) of samples in each leaf.
    min_weight_fraction_leaf : float, default=0.0
        Minimum fraction of the total sample weight in each leaf.
    max_features : int, float, {'sqrt', 'log2'} or None, default='sqrt'
        Number (int), fraction (float) or rule for the features considered at each split;
        ``None``: all features.
    max_leaf_nodes : int or None, default=None
        Maximum number of leaves per tree, grown best-first; ``None``: unlimited.
    bootstrap : bool, default=True
        Fit each tree on a bootstrap sample (otherwise on all rows).
    oob_score : bool, default=False
        Compute the out-of-bag concordance index ``oob_score_``.
    n_jobs : int or None, default=None
        Parallel jobs over the trees (``-1``: all processors).
    random_state : int, RandomState instance or None, default=None
        Seed of the bootstrap samples and of the features drawn at each split.
    verbose : int, default=0
        Verbosity of fitting and predicting.
    warm_start : bool, default=False
        Add trees to the previous fit instead of fitting a new forest.
    max_samples : int, float or None, default=None
        With ``bootstrap``: rows drawn per tree, as a number (int) or a fraction (float);
        ``None``: as many as there are rows.
    low_memory : bool, default=False
        Store less per node; ``predict`` still works but the survival and cumulative hazard
        functions cannot be predicted.

    Attributes
    ----------
    unique_times_ : ndarray of shape (n_unique_times,)
        The grid points that hold at least one (rounded) training time.
    is_event_time_ : ndarray of shape (n_unique_times,)
        Whether an event was observed at each of them.

    Examples
    --------
    >>> import numpy as np
    >>> from sksurv.util import Surv
    >>> from mmrisk.models import GridRandomSurvivalForest
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 3))
    >>> y = Surv.from_arrays(rng.random(200) < 0.6, rng.exponential(30, 200))
    >>> rsf = GridRandomSurvivalForest(n_estimators=5, time_grid=1.0, random_state=0).fit(X, y)
    >>> bool(np.all(rsf.unique_times_ == np.round(rsf.unique_times_)))
    True
    """

    _parameter_constraints = {
        **RandomSurvivalForest._parameter_constraints,
        "time_grid": [Interval(Real, 0, None, closed="neither"), None],
    }

    def __init__(
        self,
        n_estimators=100,
        *,
        time_grid=DEFAULT_TIME_GRID,
        max_depth=None,
        min_samples_split=6,
        min_samples_leaf=3,
        min_weight_fraction_leaf=0.0,
        max_features="sqrt",
        max_leaf_nodes=None,
        bootstrap=True,
        oob_score=False,
        n_jobs=None,
        random_state=None,
        verbose=0,
        warm_start=False,
        max_samples=None,
        low_memory=False,
    ):
        super().__init__(
            n_estimators=n_estimators,
            max_depth=max_depth,
            min_samples_split=min_samples_split,
            min_samples_leaf=min_samples_leaf,
            min_weight_fraction_leaf=min_weight_fraction_leaf,
            max_features=max_features,
            max_leaf_nodes=max_leaf_nodes,
            bootstrap=bootstrap,
            oob_score=oob_score,
            n_jobs=n_jobs,
            random_state=random_state,
            verbose=verbose,
            warm_start=warm_start,
            max_samples=max_samples,
            low_memory=low_memory,
        )
        self.time_grid = time_grid

    def fit(self, X, y, sample_weight=None):
        """Round the times of ``y`` up to the grid, then fit the forest.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features.
        y : structured ndarray of shape (n_samples,)
            Outcome (event, time).
        sample_weight : array-like of shape (n_samples,), default=None
            As for the forest.

        Returns
        -------
        self : GridRandomSurvivalForest
        """
        self._validate_params()
        if self.time_grid is not None:
            event, time = check_array_survival(X, y)
            y = Surv.from_arrays(event=event, time=coarsen_times(time, float(self.time_grid)))
        return super().fit(X, y, sample_weight=sample_weight)
