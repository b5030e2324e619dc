"""``mmrisk train --engine spark``: the fold x model fits (and grid points) as Spark tasks on
``local[2]`` give the local engine's out-of-fold predictions and metrics; progress per fit; a
bad ``--master`` is one clear error without a traceback.

The independent truth is the local engine itself (scikit-learn's ``GridSearchCV`` run inside
each fit, in this process): the Spark engine unrolls the grid search and runs every fit in
Spark's Python workers. Needs Java 17+ and pyspark: skipped without them, unless ``CI`` is
set, in which case their absence is a failure.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sksurv.linear_model import CoxPHSurvivalAnalysis
from sksurv.util import Surv
from spark_env import require_spark
from typer.testing import CliRunner

from mmrisk.cli import app
from mmrisk.config import load_config
from mmrisk.evaluation import cross_validate, make_splits
from mmrisk.exceptions import MMRiskError
from mmrisk.models import XGBCox
from mmrisk.registry import simulate_registry
from mmrisk.workflows import SparkFitBackend, _train, check_engine, train

pytestmark = pytest.mark.slow

CONFIG = """
name: spark-tiny
seed: 3
data: {{synthetic_dir: {data}, simulate_n: 300, simulate_seed: 21}}
cohort: {{landmark: lm_start, endpoint: pfs}}
models:
  staging: {{kind: staging}}
  cox: {{kind: cox}}
  xgb: {{kind: xgb_cox, params: {{n_estimators: 20, n_jobs: 1}},
         grid: {{max_depth: [1, 3]}}}}
validation: {{n_splits: 2, n_repeats: 1, n_bootstrap: 20, inner_cv: 2}}
horizons: [12, 24]
explain: {{n_samples: 0}}
tracking: {{experiment: spark-tiny, registered_model: spark-tiny}}
"""

runner = CliRunner()




@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("spark-train")
    simulate_registry(root / "data", n=300, seed=21)
    (root / "tiny.yaml").write_text(CONFIG.format(data=root / "data"))
    return root


@pytest.fixture(scope="module")
def spark():
    require_spark()
    from mmrisk.workflows import get_spark

    session = get_spark("local[2]", conf={"spark.ui.showConsoleProgress": "false"})
    yield session
    session.stop()


class _Stop(Exception):
    """Ends the train workflow after cross-validation (MLflow logging does not depend on the
    engine and is tested elsewhere; skipping it keeps this test short)."""


def test_spark_engine_gives_the_local_engines_results(tiny, spark, monkeypatch):
    """``train(engine="spark")`` up to its cross-validation; the reference is the local engine
    (fits one after the other in this process) on the very inputs the run cross-validated."""
    inputs, calls, jobs = [], [], []
    real_cv, real_job = _train.cross_validate, SparkFitBackend._job

    def spy_cv(*args, **kwargs):
        inputs.append((args, kwargs, real_cv(*args, **kwargs)))
        raise _Stop

    def spy_job(self, fn, broadcast, task, group, stopped):
        jobs.append((group, task.description))
        return real_job(self, fn, broadcast, task, group, stopped)

    monkeypatch.setattr(_train, "cross_validate", spy_cv)
    monkeypatch.setattr(SparkFitBackend, "_job", spy_job)
    with pytest.raises(_Stop):
        train(load_config(tiny / "tiny.yaml"), tracking_uri=f"sqlite:///{tiny}/spark.db",
              engine="spark", master="local[2]", progress=lambda *c: calls.append(c))
    # every fit ran as a Spark job of this session: 2 splits x 2 plain models, 2 splits x 2
    # candidates x 2 inner folds of the grid model, then its 2 refits
    kinds = pd.Series([d.split()[1] for _, d in jobs]).value_counts().to_dict()
    assert kinds == {"fit": 4, "score": 8, "refit": 2}
    tracker = spark.sparkContext.statusTracker()
    ids = [i for g in sorted({g for g, _ in jobs}) for i in tracker.getJobIdsForGroup(g)]
    assert len(ids) == 14
    assert {tracker.getJobInfo(i).status for i in ids} == {"SUCCEEDED"}
    # progress per fit, as fits finish
    assert [c for c in calls if c[0] == "fit"] == [("fit", k, 6) for k in range(1, 7)]
    assert [c for c in calls if c[0] == "tune"] == [("tune", k, 8) for k in range(1, 9)]

    (args, kwargs, new), = inputs
    assert isinstance(kwargs.pop("backend"), SparkFitBackend)
    ref = real_cv(*args, **{**kwargs, "n_jobs": 1, "progress": None})
    pd.testing.assert_frame_equal(new.predictions, ref.predictions, check_exact=False,
                                  rtol=0, atol=1e-12)
    np.testing.assert_array_equal(new.predictions["risk"], ref.predictions["risk"])
    pd.testing.assert_frame_equal(new.metrics, ref.metrics, check_exact=False, rtol=0,
                                  atol=1e-12)
    pd.testing.assert_frame_equal(new.differences, ref.differences, check_exact=False,
                                  rtol=0, atol=1e-12)
    # not equal by accident: the models predict differently
    risk = ref.predictions.pivot_table(index="row", columns="model", values="risk")
    assert risk.corr().min().min() < 0.999


class _NotOnExecutors(CoxPHSurvivalAnalysis):
    """Defined in this test module, which Spark's Python workers cannot import."""


def test_failures_on_executors_are_clear(spark):
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(60, 2)), columns=["a", "b"])
    y = Surv.from_arrays(rng.uniform(size=60) < 0.6, rng.uniform(1, 40, size=60))
    splits = make_splits("kfold", y, n_splits=2, n_repeats=1, seed=0)
    backend = SparkFitBackend(spark.sparkContext)
    # a fit that raises: its own type, with the fold, as in a local run
    with pytest.raises(Exception, match="max_depth") as info:
        cross_validate({"bad": XGBCox(max_depth=-1)}, X, y, splits, [12], n_bootstrap=0,
                       backend=backend)
    assert info.value.__notes__ == [f"while fitting model 'bad' on {splits[0].label}"]
    # a Spark job that cannot run (the model's class is unknown to the executors): one line
    with pytest.raises(MMRiskError, match="No module named 'test_train_spark'") as info:
        cross_validate({"m": _NotOnExecutors()}, X, y, splits, [12], n_bootstrap=0,
                       backend=backend)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("master", "message"),
    [("bogus://x", "is not a Spark master"),
     ("spark://127.0.0.1:1", "Spark master spark://127.0.0.1:1 is not reachable"),
     ("sc://localhost", "Spark Connect cannot run training tasks")],
)
def test_a_bad_master_is_one_clear_error(tiny, master, message):
    res = runner.invoke(app, ["train", "--config", str(tiny / "tiny.yaml"), "--engine", "spark",
                              "--master", master, "--tracking-uri",
                              f"sqlite:///{tiny}/bad.db"])
    assert res.exit_code == 1
    assert message in res.output
    assert "Traceback" not in res.output and res.output.count("Error:") == 1
    assert not (tiny / "bad.db").exists()  # refused before any work


def test_engine_and_master_are_checked():
    assert check_engine("local") == ("local", None)
    assert check_engine("spark", "local[2]") == ("spark", "local[2]")
    with pytest.raises(MMRiskError, match="the master is for the .spark. engine"):
        check_engine("local", "local[2]")
    with pytest.raises(MMRiskError, match="engine must be one of local, spark; got 'dask'"):
        check_engine("dask")
    with pytest.raises(MMRiskError, match="competing-risks one"):
        check_engine("spark", "local[2]", competing=True)
