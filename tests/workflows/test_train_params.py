"""A child run's params say what the logged fit chose: the elastic-net Cox model's penalty
(chosen by its own inner cross-validation on all the rows it was fitted on; each CV fold chose
its own) and how many coefficients it kept, checked against the registered estimator."""

from __future__ import annotations

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from mmrisk.models import split_model
from mmrisk.tracking import load_model


def test_coxnet_run_logs_the_penalty_its_fit_chose(trained_job):
    uri = trained_job["tracking_uri"]
    client = MlflowClient(uri)
    ids = trained_job["result"].child_run_ids
    params = client.get_run(ids["coxnet"]).data.params
    final = split_model(load_model(trained_job["runs"]["coxnet"], uri).estimator)[1]
    assert float(params["chosen.alpha"]) == pytest.approx(final.alpha_, rel=1e-5)
    assert int(params["chosen.n_nonzero_coefs"]) == int(np.count_nonzero(final.coef_))
    # the chosen penalty is the path's with the best mean inner-CV C (n_folds x n_alphas)
    assert final.cv_scores_.shape[1] == final.alphas_.size
    scores = np.nanmean(final.cv_scores_, axis=0)
    assert final.alphas_[int(np.nanargmax(scores))] == pytest.approx(final.alpha_)
    for name in ("cox", "rsf", "staging"):
        assert "chosen.alpha" not in client.get_run(ids[name]).data.params
