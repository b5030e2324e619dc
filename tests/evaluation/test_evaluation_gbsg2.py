"""The published result: the random survival forest of scikit-survival's user guide on GBSG2.

User guide "Using Random Survival Forests" (sksurv 0.28): tumour grade ordinal-encoded, other
categoricals one-hot encoded, 25% test split with random_state=20, 1000 trees; the guide
reports a test concordance of 0.6745 (0.674528 here).
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import OrdinalEncoder
from sksurv.datasets import load_gbsg2
from sksurv.ensemble import RandomSurvivalForest
from sksurv.metrics import concordance_index_censored
from sksurv.preprocessing import OneHotEncoder

from mmrisk.evaluation import cindex_harrell

PUBLISHED_C = 0.6745


def test_gbsg2_random_survival_forest_concordance():
    X, y = load_gbsg2()
    grade = X.loc[:, "tgrade"].astype(object).to_numpy()[:, np.newaxis]
    grade_num = OrdinalEncoder(categories=[["I", "II", "III"]]).fit_transform(grade)
    Xt = OneHotEncoder().fit_transform(X.drop("tgrade", axis=1))
    Xt.loc[:, "tgrade"] = grade_num
    X_train, X_test, y_train, y_test = train_test_split(Xt, y, test_size=0.25, random_state=20)
    rsf = RandomSurvivalForest(
        n_estimators=1000, min_samples_split=10, min_samples_leaf=15, n_jobs=-1,
        random_state=20,
    ).fit(X_train, y_train)  # fmt: skip
    risk = rsf.predict(X_test)
    ours = cindex_harrell(y_train, y_test, risk)
    assert ours == pytest.approx(PUBLISHED_C, abs=0.005)
    reference = concordance_index_censored(y_test["cens"], y_test["time"], risk)[0]
    assert ours == pytest.approx(reference, abs=1e-12)
