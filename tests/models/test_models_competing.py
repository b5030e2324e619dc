"""Competing-risks models against R (survival 3.5-3 on mgus2), lifelines and closed forms.

Reference CSVs are in tests/evaluation/data (see competing_reference.R there):

    mg <- subset(d, !is.na(mspike))
    pcmdat <- finegray(Surv(etime, event) ~ ., data=mg, etype="pcm")
    fg <- coxph(Surv(fgstart, fgstop, fgstatus) ~ age + sex + mspike, data=pcmdat,
                weights=fgwt, id=id)                                    # finegray_mgus2.csv
    summary(survfit(fg, newdata=dummy), times=c(60,120,240))            # finegray_pred.csv
    coxph(Surv(etime, event=="pcm") ~ age + sex + mspike, data=mg)      # cscox_mgus2.csv
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter
from sklearn.base import clone

from mmrisk.cohort import competing_outcome
from mmrisk.evaluation import cumulative_incidence_at
from mmrisk.models import (
    HAZARD_RATIO_COLUMNS,
    CauseSpecificCoxnet,
    CauseSpecificCoxPH,
    FineGray,
    hazard_ratios,
    make_competing_model,
    predict_cif_at,
)
from mmrisk.models._competing import _FGData

DATA = Path(__file__).parents[1] / "evaluation" / "data"
DUMMY = pd.DataFrame({"age": [60.0, 60, 80, 80], "sexM": [0.0, 1, 0, 1], "mspike": 1.2})


@pytest.fixture(scope="module")
def mgus2():
    d = pd.read_csv(DATA / "mgus2.csv")
    d = d[d["mspike"].notna()].reset_index(drop=True)
    etime = np.where(d["pstat"] == 0, d["futime"], d["ptime"]).astype(float)
    code = np.where(d["pstat"] == 0, 2 * d["death"], 1)
    X = pd.DataFrame({"age": d["age"], "sexM": (d["sex"] == "M").astype(float),
                      "mspike": d["mspike"]})
    return X, competing_outcome(code, etime)


@pytest.fixture(scope="module")
def finegray_fit(mgus2):
    return FineGray(alpha=0.0).fit(*mgus2)


def test_finegray_matches_r_coxph_on_finegray_data(finegray_fit):
    ref = pd.read_csv(DATA / "finegray_mgus2.csv")
    np.testing.assert_allclose(finegray_fit.coef_, ref["coef"], rtol=1e-6)
    np.testing.assert_allclose(np.sqrt(np.diag(finegray_fit.naive_cov_)), ref["se"], rtol=1e-6)
    np.testing.assert_allclose(np.sqrt(np.diag(finegray_fit.cov_)), ref["robust_se"], rtol=1e-6)


def test_finegray_cif_matches_r_survfit(finegray_fit):
    ref = pd.read_csv(DATA / "finegray_pred.csv")
    got = finegray_fit.predict_cif(DUMMY, [60, 120, 240])
    np.testing.assert_allclose(got.ravel(), ref["cif"], rtol=1e-6)


def test_finegray_matches_compete_vignette_text(finegray_fit):
    """compete.Rnw: "females have a 1.2 fold higher lifetime risk of PCM, after adjustment
    for age and serum m-spike"."""
    assert round(float(np.exp(-finegray_fit.coef_[1])), 1) == 1.2


def test_finegray_weights_match_survival_tests_finegray():
    """survival/tests/finegray.Rout.save, test data set 1: the censoring KM drops at 3, 4, 6,
    8 and 9 by 11/12, 8/10, 5/6, 3/4 and 2/3, and the verified weights
    ``twt <- c(1, csurv$p[c(1,2,3,6)], 1,1,1, 1, 1, 5/12, 1,1,1, 1, 1/2, 1,1,1)`` give the
    type-2 patient of time 5 weight 5/12 and the one of time 8 weight 1/2 at time 10."""
    time = np.array([1, 2, 3, 4, 4, 4, 5, 5, 6, 8, 8, 9, 10, 12], dtype=float)
    code = np.array([1, 2, 0, 1, 0, 0, 2, 1, 0, 0, 2, 0, 1, 0])
    data = _FGData(np.zeros((14, 1)), code, time, "efron")
    np.testing.assert_array_equal(data.times, [1, 4, 5, 10])
    p = np.cumprod([11 / 12, 8 / 10, 5 / 6, 3 / 4, 2 / 3])
    np.testing.assert_allclose(data.W[1], [1.0, p[0], p[1], p[4]])  # the patient of time 2
    assert data.W[6, 3] == pytest.approx(5 / 12)
    assert data.W[10, 3] == pytest.approx(1 / 2)
    assert data.W[2, 1] == 0.0 and data.W[13, 3] == 1.0  # censored at 3; at risk at 12


def test_finegray_without_competing_events_is_cox_as_lifelines():
    rng = np.random.default_rng(2)
    X = pd.DataFrame(rng.normal(size=(300, 2)), columns=["a", "b"])
    t = rng.exponential(np.exp(-(X @ [0.7, -0.4])).to_numpy() * 20)
    c = rng.uniform(5, 60, size=300)
    y = competing_outcome(np.where(t <= c, 1, 0), np.minimum(t, c))
    fg = FineGray(alpha=0.0).fit(X, y)
    cph = CoxPHFitter().fit(X.assign(T=y["time"], E=y["event"]), "T", "E", robust=True)
    # lifelines stops Newton-Raphson earlier (relative differences ~3e-6)
    np.testing.assert_allclose(fg.coef_, cph.params_, rtol=1e-4)
    np.testing.assert_allclose(np.sqrt(np.diag(fg.cov_)), cph.standard_errors_, rtol=1e-4)


def test_cause_specific_cox_matches_r_and_lifelines(mgus2):
    X, y = mgus2
    cs = CauseSpecificCoxPH(alpha=0.0).fit(X, y)
    ref = pd.read_csv(DATA / "cscox_mgus2.csv")
    for k, model in enumerate(cs.estimators_, start=1):
        r = ref[ref["cause"] == k]
        np.testing.assert_allclose(model.coef_, r["coef"], rtol=1e-6)
        np.testing.assert_allclose(np.sqrt(np.diag(model.cov_)), r["se"], rtol=1e-5)
        cph = CoxPHFitter().fit(X.assign(T=y["time"], E=(y["event"] == k).astype(int)), "T", "E")
        np.testing.assert_allclose(model.coef_, cph.params_, rtol=1e-5)


def test_cause_specific_cif_without_covariate_effect_is_aalen_johansen(mgus2):
    X, y = mgus2
    cs = CauseSpecificCoxPH(alpha=1e12).fit(X, y)  # coefficients ~ 0: Nelson-Aalen hazards
    times = [12.0, 60.0, 120.0, 240.0]
    aj = cumulative_incidence_at(y, times)
    got = cs.predict_cif(X.iloc[:3], times)
    for row in got:
        np.testing.assert_allclose(row, aj.loc[aj["cause"] == 1, "cif"], rtol=1e-6)


def test_cause_specific_cif_recovers_the_true_cif():
    """Constant cause-specific hazards 0.02 exp(0.8 x), 0.01 exp(-0.5 x): the true CIF of
    cause 1 is l1 / (l1 + l2) (1 - exp(-(l1 + l2) t))."""
    rng = np.random.default_rng(11)
    x = rng.normal(size=3000)
    l1, l2 = 0.02 * np.exp(0.8 * x), 0.01 * np.exp(-0.5 * x)
    t = rng.exponential(1 / (l1 + l2))
    c = rng.uniform(5, 120, size=3000)
    code = np.where(t <= c, np.where(rng.uniform(size=3000) < l1 / (l1 + l2), 1, 2), 0)
    X = pd.DataFrame({"x": x})
    cs = CauseSpecificCoxPH().fit(X, competing_outcome(code, np.minimum(t, c)))
    grid = pd.DataFrame({"x": [-1.0, 0.0, 1.0]})
    g1, g2 = 0.02 * np.exp(0.8 * grid["x"]), 0.01 * np.exp(-0.5 * grid["x"])
    truth = (g1 / (g1 + g2)).to_numpy()[:, None] * (1 - np.exp(-np.outer(g1 + g2, [12, 36])))
    np.testing.assert_allclose(cs.predict_cif(grid, [12, 36]), truth, atol=0.02)
    np.testing.assert_allclose([m.coef_[0] for m in cs.estimators_], [0.8, -0.5], atol=0.1)
    np.testing.assert_allclose(cs.predict(grid), cs.predict_cif(grid, [cs.last_event_time_])[:, 0])


def test_hazard_ratio_tables(mgus2, finegray_fit):
    X, y = mgus2
    fg = hazard_ratios(finegray_fit)
    assert list(fg.columns) == list(HAZARD_RATIO_COLUMNS)
    assert fg["term"].tolist() == ["age", "sexM", "mspike"]
    cs = hazard_ratios(CauseSpecificCoxPH(horizon=60.0).fit(X, y))
    assert list(cs.columns) == ["cause", *HAZARD_RATIO_COLUMNS]
    assert cs["cause"].tolist() == [1, 1, 1, 2, 2, 2]


def test_make_competing_model_and_coxnet(mgus2):
    X, y = mgus2
    for kind in ("cs_cox", "cs_coxnet", "finegray"):
        model = make_competing_model(kind, pipeline="passthrough", params={"horizon": 60.0},
                                     seed=3)
        assert clone(model).get_params()["model__horizon"] == 60.0
    net = make_competing_model("cs_coxnet", pipeline="passthrough",
                               params={"n_alphas": 5}, seed=3).fit(X.iloc[:400], y[:400])
    est = net.named_steps["model"]
    assert isinstance(est, CauseSpecificCoxnet) and est.estimators_[0].random_state == 3
    cif = predict_cif_at(net, X.iloc[:5], [12, 60, 120])
    assert np.all(np.diff(cif, axis=1) >= 0) and np.all((cif >= 0) & (cif <= 1))
    assert hazard_ratios(net)["hr_lo"].isna().all()
