"""Inner cross-validation for model selection: K folds stratified on the event indicator."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from sklearn.model_selection import StratifiedKFold

__all__ = ["EventStratifiedKFold", "event_indicator"]


def event_indicator(y: Any) -> np.ndarray:
    """Event indicator of a scikit-survival outcome array.

    Parameters
    ----------
    y : structured ndarray of shape (n_samples,)
        Outcome with two fields, the event indicator (bool) first and the time second, as made
        by :meth:`sksurv.util.Surv.from_arrays`.

    Returns
    -------
    ndarray of shape (n_samples,), dtype bool
        ``True`` where the event was observed.

    Raises
    ------
    ValueError
        If ``y`` is not a structured array with two fields.
    """
    names = getattr(getattr(y, "dtype", None), "names", None)
    if names is None or len(names) != 2:
        raise ValueError(
            "y must be a structured array with fields (event, time), as made by "
            f"sksurv.util.Surv.from_arrays; got {type(y).__name__} "
            f"with dtype {getattr(y, 'dtype', None)!r}."
        )
    return np.asarray(y[names[0]], dtype=bool)


class EventStratifiedKFold(StratifiedKFold):
    """K-fold cross-validation with the same share of events in every fold.

    :class:`~sklearn.model_selection.StratifiedKFold` applied to the event indicator of a
    scikit-survival outcome, so that it can be used as ``cv`` with ``y`` a structured
    (event, time) array. Folds are shuffled by default.

    Parameters
    ----------
    n_splits : int, default=3
        Number of folds, at least 2.
    shuffle : bool, default=True
        Shuffle each stratum before splitting.
    random_state : int, RandomState instance or None, default=None
        Seed of the shuffling (only used when ``shuffle`` is true).

    See Also
    --------
    sklearn.model_selection.StratifiedKFold

    Examples
    --------
    >>> import numpy as np
    >>> from sksurv.util import Surv
    >>> from mmrisk.models import EventStratifiedKFold
    >>> y = Surv.from_arrays(event=[1, 0, 1, 0, 1, 0], time=[1.0, 2, 3, 4, 5, 6])
    >>> cv = EventStratifiedKFold(3, random_state=0)
    >>> [int(y["event"][test].sum()) for _, test in cv.split(np.zeros((6, 1)), y)]
    [1, 1, 1]
    """

    def __init__(
        self, n_splits: int = 3, *, shuffle: bool = True, random_state: Any = None
    ) -> None:
        super().__init__(n_splits=n_splits, shuffle=shuffle, random_state=random_state)

    def split(
        self, X: Any, y: Any = None, groups: Any = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Generate indices to split data into training and test set.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data (only its length is used).
        y : structured ndarray of shape (n_samples,)
            Outcome (event, time); folds are stratified on the event indicator.
        groups : None
            Ignored.

        Yields
        ------
        train : ndarray
            Training indices of the split.
        test : ndarray
            Test indices of the split.
        """
        yield from super().split(X, event_indicator(y), groups)
