"""Riley et al. sample size for a survival model against the published pmsampsize outputs."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
from sksurv.util import Surv

from mmrisk.evaluation import (
    cox_snell_rsquared,
    event_rate_and_followup,
    survival_sample_size,
)
from mmrisk.exceptions import SampleSizeError

# R package pmsampsize 1.1.x, tests/testthat/test_surv.R (CRAN; also on rdrr.io):
#   pmsampsize(type="s", rsquared, parameters, rate, timepoint, meanfup)
#   results_table[, 1] (sample size of criteria 1, 2, 3, final) and [, 7] (EPP, 2 decimals).
PMSAMPSIZE_TESTS = [
    # (rsquared, parameters, rate, timepoint, meanfup), (n1, n2, n3, final), EPP per row
    ((0.051, 25, 0.065, 2, 2.07), (4286, 866, 4286, 4286), (23.07, 4.66, 23.07, 23.07)),
    ((0.065, 25, 0.065, 2, 2.07), (3335, 859, 3335, 3335), (17.95, 4.62, 17.95, 17.95)),
    ((0.051, 50, 0.065, 2, 2.07), (8572, 1731, 8572, 8572), (23.07, 4.66, 23.07, 23.07)),
    ((0.051, 25, 0.1, 2, 2.07), (4286, 731, 4286, 4286), (35.49, 6.05, 35.49, 35.49)),
    ((0.051, 25, 0.065, 4, 2.07), (4286, 866, 4286, 4286), (23.07, 4.66, 23.07, 23.07)),
    ((0.051, 25, 0.065, 2, 4), (4286, 679, 4286, 4286), (44.57, 7.06, 44.57, 44.57)),
    ((0.06, 40, 0.08, 3, 5), (5798, 969, 5798, 5798), (57.98, 9.69, 57.98, 57.98)),
    ((0.03, 10, 0.09, 3, 3), (2950, 272, 2950, 2950), (79.65, 7.34, 79.65, 79.65)),
    ((0.3, 80, 0.03, 1, 5), (1974, 2272, 2272, 2272), (3.7, 4.26, 4.26, 4.26)),
]


@pytest.mark.parametrize(("inputs", "sizes", "epp"), PMSAMPSIZE_TESTS)
def test_matches_pmsampsize_testthat_values(inputs, sizes, epp):
    rsquared, parameters, rate, timepoint, meanfup = inputs
    res = survival_sample_size(rsquared, parameters, rate, timepoint, meanfup)
    assert [c.n for c in res.criteria] + [res.n] == list(sizes)
    per_person = rate * meanfup
    got_epp = [round(c.n * per_person / parameters, 2) for c in res.criteria]
    assert got_epp + [round(res.events_per_parameter, 2)] == list(epp)


def test_documentation_example_of_riley_bmj_2020():
    # pmsampsize's help page example (based on Riley et al., BMJ 2020;368:m441, recurrent VTE):
    # pmsampsize(type="s", rsquared=0.051, parameters=30, rate=0.065, timepoint=2, meanfup=2.07)
    # -> minimum n = 5143 (criterion 1), 10646 person-time, 692 events, EPP = 23.07;
    #    95% CI for the 2-year risk (0.113, 0.13) around 0.122; max R² 0.555, Nagelkerke 0.092.
    res = survival_sample_size(0.051, 30, 0.065, 2, 2.07)
    assert res.n == 5143
    assert res.criteria[0].n == 5143
    assert res.events == 692
    assert round(res.events_per_parameter, 2) == 23.07
    assert res.person_time == pytest.approx(10646.0)
    assert (round(res.risk_lower, 3), round(res.risk, 3), round(res.risk_upper, 3)) == \
        (0.113, 0.122, 0.130)
    assert round(res.max_rsquared, 3) == 0.555
    assert round(res.nagelkerke_rsquared, 3) == 0.092
    assert res.criteria[0].shrinkage == 0.9
    assert res.final_shrinkage == 0.9


def test_criterion_2_shrinkage_gives_the_target_optimism_in_nagelkerke_r2():
    # Riley et al. (Stat Med 2019, eq. for criterion ii): S = R2cs / (R2cs + delta * maxR2cs),
    # equivalently the apparent minus adjusted Nagelkerke R² equals delta when
    # R2_app = R2cs / S.
    res = survival_sample_size(0.3, 80, 0.03, 1, 5)
    s2 = res.criteria[1].shrinkage
    apparent = res.rsquared / s2
    assert (apparent - res.rsquared) / res.max_rsquared == pytest.approx(0.05)
    assert res.final_shrinkage == pytest.approx(s2)


def _ci_half_widths(n, rate, timepoint, meanfup):
    se = math.sqrt(rate / (n * meanfup))
    risk = 1 - math.exp(-rate * timepoint)
    lo = 1 - math.exp(-(rate - 1.96 * se) * timepoint)
    hi = 1 - math.exp(-(rate + 1.96 * se) * timepoint)
    return risk - lo, hi - risk


def test_criterion_3_raises_n_until_the_risk_is_within_the_margin():
    # Few parameters and a large R²: criteria 1 and 2 need ~50 participants, far too few to
    # estimate a 5-year risk of 0.63 within ±0.05 (pmsampsize would stop at max(n1, n2)).
    rate, timepoint, meanfup = 0.2, 5, 1
    res = survival_sample_size(0.3, 2, rate, timepoint, meanfup)
    n1, n2, n3 = (c.n for c in res.criteria)
    assert max(n1, n2) < 60
    assert n3 == res.n
    assert max(_ci_half_widths(n3, rate, timepoint, meanfup)) <= 0.05
    assert max(_ci_half_widths(n3 - 1, rate, timepoint, meanfup)) > 0.05


@pytest.mark.parametrize("margin", [0.01, 0.02, 0.1])
def test_criterion_3_margin_by_brute_force(margin):
    res = survival_sample_size(0.02, 1, 0.1, 2, 3, margin=margin)
    n3 = res.criteria[2].n
    if n3 > max(res.criteria[0].n, res.criteria[1].n):
        assert max(_ci_half_widths(n3, 0.1, 2, 3)) <= margin
        assert max(_ci_half_widths(n3 - 1, 0.1, 2, 3)) > margin
    else:
        assert max(_ci_half_widths(n3, 0.1, 2, 3)) <= margin


def test_json_contract_keys():
    out = survival_sample_size(0.051, 30, 0.065, 2, 2.07).to_dict()
    text = json.dumps(out)
    back = json.loads(text)
    assert list(back)[:4] == ["n", "events", "events_per_parameter", "criteria"]
    assert back["n"] == 5143 and back["events"] == 692
    assert [c["criterion"] for c in back["criteria"]] == [1, 2, 3]
    for c in back["criteria"]:
        assert set(c) == {"criterion", "n", "events", "shrinkage"}
    assert back["criteria"][1] == {"criterion": 2, "n": 1039, "events": 140,
                                   "shrinkage": pytest.approx(0.6477, abs=1e-4)}


def test_rsquared_above_its_maximum_is_an_error():
    # rate 0.001 per unit and mean follow-up 1: max Cox-Snell R² = 1 - exp(2(10 ln 0.001 - 10)
    # / 10000) = 0.0157 (10 events in the reference 10,000).
    expected = 1 - math.exp(2 * (10 * math.log(0.001) - 10) / 10_000)
    with pytest.raises(SampleSizeError, match=re.escape(f"maximum Cox-Snell R² ({expected:.4f})")):
        survival_sample_size(0.05, 10, 0.001, 1, 1)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"rsquared": 0.0}, "rsquared must be a Cox-Snell R² in (0, 1); got 0.0."),
    ({"rsquared": 1.2}, "rsquared must be a Cox-Snell R² in (0, 1); got 1.2."),
    ({"parameters": 2.5}, "parameters must be a positive integer; got 2.5."),
    ({"parameters": 0}, "parameters must be a positive integer; got 0."),
    ({"parameters": True}, "parameters must be a positive integer; got True."),
    ({"rate": 0.0}, "rate must be a positive event rate (events per unit of time); got 0.0."),
    ({"timepoint": -1.0}, "timepoint must be positive (same time unit as meanfup); got -1.0."),
    ({"meanfup": 0}, "meanfup must be a positive mean follow-up; got 0."),
    ({"meanfup": float("nan")}, "meanfup must be a finite number; got nan."),
    ({"shrinkage": 1.0}, "shrinkage must be in (0, 1), e.g. 0.9; got 1.0."),
    ({"rsquared": 0.5, "shrinkage": 0.4},
     "shrinkage must be larger than rsquared (0.5), else ln(1 - R²/S) is undefined; got 0.4."),
    ({"margin": 0.0}, "margin must be in (0, 1), e.g. 0.05; got 0.0."),
])
def test_impossible_inputs_name_the_input(kwargs, message):
    args = {"rsquared": 0.051, "parameters": 30, "rate": 0.065, "timepoint": 2, "meanfup": 2.07}
    args.update(kwargs)
    with pytest.raises(SampleSizeError) as err:
        survival_sample_size(**args)
    assert str(err.value) == message


def test_cox_snell_rsquared_of_lifelines_rossi_fit():
    # lifelines docs: CoxPHFitter on the Rossi recidivism data (n = 432) prints
    # "log-likelihood ratio test = 33.27 on 7 df"; Cox-Snell R² = 1 - exp(-LR / n).
    from lifelines import CoxPHFitter
    from lifelines.datasets import load_rossi

    rossi = load_rossi()
    cph = CoxPHFitter().fit(rossi, "week", "arrest")
    lr = cph.log_likelihood_ratio_test().test_statistic
    assert lr == pytest.approx(33.27, abs=0.005)
    r2 = cox_snell_rsquared(cph.log_likelihood_, cph.log_likelihood_ - lr / 2, len(rossi))
    assert r2 == pytest.approx(1 - math.exp(-33.27 / 432), abs=1e-4)


def test_event_rate_and_followup_closed_form():
    y = Surv.from_arrays(event=[True, False, True, False], time=[2.0, 4.0, 1.0, 3.0])
    rate, meanfup = event_rate_and_followup(y)
    assert rate == pytest.approx(2 / 10)
    assert meanfup == pytest.approx(2.5)


def test_event_rate_needs_follow_up():
    y = Surv.from_arrays(event=np.array([], bool), time=np.array([], float))
    with pytest.raises(SampleSizeError, match="must hold some follow-up time"):
        event_rate_and_followup(y)
