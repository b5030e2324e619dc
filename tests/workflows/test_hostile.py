"""Issue 16, hostile but honest input: every case is one message (file, row, column), exit 1, no
traceback and nothing written. One small Cox model on a simulated flat table (exponential times
with known log hazard ratios, uniform censoring up to 120 months) is trained once for the module.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from mmrisk.cli import app
from mmrisk.cohort import flat_cohort, read_flat_table
from mmrisk.config import DataSpec, load_config, selectable_metrics
from mmrisk.evaluation import metric_names
from mmrisk.exceptions import ConfigError, ExtractError, MMRiskError
from mmrisk.registry import check_csv, simulate_registry
from mmrisk.tracking import load_model, using_store
from mmrisk.workflows import score, train

runner = CliRunner()
FEATURES = ["age", "hgb", "flag"]

CONFIG = """
name: hostile
seed: 1
data: {{table: {table}, time: ptime, event: pstat, id_column: pid}}
pipeline: passthrough
baseline: null
models:
  cox: {{kind: cox}}
validation: {{n_splits: 2, n_repeats: 1, n_bootstrap: 0}}
horizons: {horizons}
explain: {{n_samples: 0}}
tracking: {{experiment: hostile, registered_model: hostile}}
"""


def _table(n: int = 240, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age, hgb, flag = rng.uniform(40, 75, n), rng.normal(120, 15, n), rng.integers(0, 2, n)
    rate = np.exp(0.03 * (age - 60) + 0.5 * flag) / 40
    t, c = rng.exponential(1 / rate), rng.uniform(0, 120, n)
    return pd.DataFrame({"pid": [f"P{i:03d}" for i in range(n)], "age": age.round(1),
                         "hgb": hgb.round(0), "flag": flag, "ptime": np.minimum(t, c).round(2),
                         "pstat": (t <= c).astype(int)})


def _config(root: Path, table: pd.DataFrame, name: str, horizons=(12, 24, 36)) -> Path:
    table.to_csv(root / f"{name}.csv", index=False)
    path = root / f"{name}.yaml"
    path.write_text(CONFIG.format(table=root / f"{name}.csv", horizons=list(horizons)))
    return path


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    table = _table()
    uri = f"sqlite:///{root}/store/mlflow.db"
    with using_store(uri):  # registry too: another module may have pinned MLflow's registry
        result = train(load_config(_config(root, table, "flat")), tracking_uri=uri)
    return {"root": root, "table": table, "uri": uri, "result": result,
            "model": "models:/hostile@champion",
            "loaded": load_model("models:/hostile@champion", uri)}


def _cli(job, *args):
    return runner.invoke(app, [*args, "--tracking-uri", job["uri"]])


def _one_clear_error(res, *patterns):
    assert res.exit_code == 1, res.output
    assert "Traceback" not in res.output
    for p in patterns:
        assert re.search(p, re.sub(r"\s+", " ", res.output)), res.output


# --- configs ------------------------------------------------------------------------------


def test_select_metric_typo_is_caught_at_load_and_lists_the_names(tmp_path):
    path = _config(tmp_path, _table(30), "c")
    with pytest.raises(ConfigError, match=r"tracking.select_metric 'cv_cindx_uno': not a metric "
                       r"mmrisk logs; choose one of cv_cindex_harrell, cv_cindex_uno, cv_auc_12m"):
        load_config(path, {"tracking": {"select_metric": "cv_cindx_uno"}})
    with pytest.raises(ConfigError, match="the 'kfold' scheme logs cv_ metrics"):
        load_config(path, {"tracking": {"select_metric": "test_cindex_uno"}})
    # the default follows the scheme's scope (nothing was ever registered on a holdout before)
    holdout = load_config(path, {"validation": {"scheme": "predefined"}})
    assert holdout.tracking.select_metric == "test_cindex_uno"


def test_selectable_metrics_mirror_the_evaluation_layer():
    for horizons in ([12], [12, 24, 36, 60], [6, 120]):
        assert selectable_metrics(horizons, "cv") == [f"cv_{m}" for m in metric_names(horizons)]


def test_empty_feature_list_is_an_error_not_every_column(tmp_path):
    path = _config(tmp_path, _table(30), "c")
    with pytest.raises(ConfigError, match=r"key data.features: is empty"):
        load_config(path, {"data": {"table": "t.csv", "time": "ptime", "event": "pstat",
                                    "features": []}})


# --- flat tables for training --------------------------------------------------------------


@pytest.mark.parametrize("column", ["site", "transplant_year", "lm_group"])
def test_a_feature_named_like_a_metadata_column_is_refused(column):
    table = _table(30).assign(**{column: 1})
    spec = DataSpec(table="t.csv", time="ptime", event="pstat", id_column="pid")
    with pytest.raises(ConfigError, match=rf"t.csv: column\(s\) '{column}' would be feature"):
        flat_cohort(table, spec, source="t.csv")


def test_infinite_feature_and_absurd_time_name_column_and_row():
    spec = DataSpec(table="t.csv", time="ptime", event="pstat", id_column="pid")
    table = _table(30)
    table.loc[4, "hgb"] = np.inf
    with pytest.raises(ExtractError, match=r"column 'hgb', data row 5: inf is not a finite"):
        flat_cohort(table, spec, source="t.csv")
    table = _table(30)
    table.loc[6, "ptime"] = 1e308
    with pytest.raises(ExtractError, match=r"column 'ptime' \(data.time\), data row 7: 1e\+308 "
                                           r"is beyond 1200 months"):
        flat_cohort(table, spec, source="t.csv")


@pytest.mark.parametrize(("value", "pattern"), [
    (np.nan, r"cannot use column\(s\) 'age': the row of pid 'P005' has age=\(missing\)"),
    (1e308, r"cannot use column\(s\) 'age': the row of pid 'P005' has age=1e\+308"),
])
def test_train_refuses_values_a_passthrough_pipeline_cannot_use(tmp_path, value, pattern):
    table = _table(60)
    table.loc[5, "age"] = value
    path = _config(tmp_path, table, "bad")
    store = tmp_path / "store"
    res = runner.invoke(app, ["train", "--config", str(path), "--tracking-uri",
                              f"sqlite:///{store}/mlflow.db"])
    _one_clear_error(res, pattern, "pipeline 'passthrough'")
    assert not store.exists()  # refused before anything was fitted or logged


def test_train_refuses_horizons_beyond_the_follow_up(tmp_path):
    table = _table(60)
    path = _config(tmp_path, table, "long", horizons=(12, 24, 36, 600))
    res = runner.invoke(app, ["train", "--config", str(path), "--tracking-uri",
                              f"sqlite:///{tmp_path}/store/mlflow.db"])
    longest = table["ptime"].max()
    _one_clear_error(res, rf"horizon\(s\) 600 months .* longest follow-up of the cohort "
                          rf"\({longest:.1f} months\)")
    assert not (tmp_path / "store").exists()


# --- CSV shapes ----------------------------------------------------------------------------


def _write_lines(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text(header + "\n" + "".join(r + "\n" for r in rows), encoding="utf-8")
    return path


def _rows(table: pd.DataFrame, sep: str = ",") -> tuple[str, list[str]]:
    text = table.to_csv(index=False, sep=sep).splitlines()
    return text[0], text[1:]


@pytest.mark.parametrize(("case", "pattern"), [
    ("trailing", r"data row 1 has 7 fields but the header names 6 columns \(it ends with an "
                 r"empty field: a trailing comma\?\)"),
    ("extra", r"data row 16 has 7 fields but the header names 6 columns"),
    ("semicolon", r"the header looks semicolon-separated .* save it again with ',' as the "
                  r"delimiter"),
    ("latin1", r"not UTF-8 text \(data row 150, byte 0xe9"),
])
def test_score_refuses_malformed_csv_with_file_and_row(job, tmp_path, case, pattern):
    table = job["table"].head(200)
    header, rows = _rows(table, ";" if case == "semicolon" else ",")
    if case == "trailing":
        rows = [r + "," for r in rows]
    elif case == "extra":
        rows = rows[:15] + [r + ",9" for r in rows[15:]]
    src = _write_lines(tmp_path / f"{case}.csv", header, rows)
    if case == "latin1":  # one Latin-1 byte far beyond pandas' first chunk
        src.write_bytes(src.read_bytes().replace(b"P149,", b"P\xe9149,"))
    out = tmp_path / "out" / "scores.csv"
    res = _cli(job, "score", "--model", job["model"], "--data", str(src), "--out", str(out),
               "--chunk-size", "50")
    _one_clear_error(res, re.escape(str(src)), pattern)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_the_flat_table_reader_of_train_refuses_the_same_shapes(tmp_path):
    header, rows = _rows(_table(10))
    src = _write_lines(tmp_path / "t.csv", header, [r + "," for r in rows])
    with pytest.raises(ExtractError, match="data row 1 has 7 fields"):
        read_flat_table(src)
    assert check_csv(_write_lines(tmp_path / "ok.csv", header, rows + [""])) == 10


def test_score_exits_1_and_writes_nothing_when_no_row_can_be_scored(job, tmp_path):
    table = job["table"].head(20).astype({"age": object})
    table["age"] = "abc"
    table.to_csv(tmp_path / "bad.csv", index=False)
    out = tmp_path / "scores.csv"
    res = _cli(job, "score", "--model", job["model"], "--data", str(tmp_path / "bad.csv"),
               "--out", str(out))
    _one_clear_error(res, r"none of the 20 rows could be scored .* first reason: age: 'abc' is "
                          r"not a number")
    assert "drift" not in res.output.lower()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv"]
    job["table"].head(0).to_csv(tmp_path / "empty.csv", index=False)
    res = _cli(job, "score", "--model", job["model"], "--data", str(tmp_path / "empty.csv"),
               "--out", str(out))
    _one_clear_error(res, "no data rows to score")
    assert not out.exists()


def test_score_refuses_a_model_whose_horizons_exceed_its_follow_up(job, tmp_path):
    loaded = job["loaded"]
    longest = loaded.meta["max_follow_up_months"]
    assert longest == pytest.approx(job["table"]["ptime"].max())
    altered = type(loaded)(loaded.uri, loaded.estimator,
                           {**loaded.meta, "horizons": [12, 600]}, loaded.pyfunc)
    job["table"].head(5).to_csv(tmp_path / "in.csv", index=False)
    with pytest.raises(MMRiskError, match=rf"horizon\(s\) 600 months are beyond the longest "
                                          rf"follow-up the model was trained on \({longest:.0f}"):
        score(altered, tmp_path / "in.csv", tmp_path / "out.csv")
    assert not (tmp_path / "out.csv").exists()


# --- registry extracts through `cohort build` ---------------------------------------------


@pytest.fixture(scope="module")
def small_extract(tmp_path_factory):
    out = tmp_path_factory.mktemp("extract") / "reg"
    simulate_registry(out, n=60, seed=2, fmt="csv")
    return out


def _cohort_build(extract: Path, config: Path, out: Path):
    return runner.invoke(app, ["cohort", "build", str(extract), "--config", str(config),
                               "--out", str(out)])


def test_cohort_build_on_dd_mm_yyyy_dates_names_file_column_and_row(small_extract, tmp_path):
    ext = tmp_path / "ddmm"
    shutil.copytree(small_extract, ext)
    for f in ext.glob("*.csv"):
        f.write_text(re.sub(r"(\d{4})-(\d{2})-(\d{2})", r"\3/\2/\1", f.read_text()))
    (tmp_path / "c.yaml").write_text("cohort: {landmark: lm_start}\n")
    res = _cohort_build(ext, tmp_path / "c.yaml", tmp_path / "out" / "cohort.csv")
    _one_clear_error(res, r"patients.csv: column 'diagnosis_date' holds no ISO date \(data row "
                          r"1: '\d\d/\d\d/\d{4}'\); dates must be written YYYY-MM-DD")
    assert not (tmp_path / "out").exists()


def test_cohort_build_on_a_header_only_patients_table(small_extract, tmp_path):
    ext = tmp_path / "hdr"
    shutil.copytree(small_extract, ext)
    patients = ext / "patients.csv"
    patients.write_text(patients.read_text().splitlines()[0] + "\n")
    (tmp_path / "c.yaml").write_text("cohort: {landmark: lm_start}\n")
    res = _cohort_build(ext, tmp_path / "c.yaml", tmp_path / "out" / "cohort.csv")
    _one_clear_error(res, r"patients.csv: table 'patients' has no rows \(only a header\)")
    assert not (tmp_path / "out").exists()


# --- fuzzing: arbitrary bytes and configs give one of mmrisk's errors, never a traceback -----

_FUZZ = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture])


@_FUZZ
@given(body=st.one_of(st.binary(max_size=300),
                      st.lists(st.lists(st.sampled_from(["1", "2.5", "", "a", '"x,y"', ";", "é",
                                                         "inf", "1e308"]), max_size=5),
                               max_size=6).map(lambda rows: "\n".join(",".join(r) for r in rows)
                                               .encode())))
def test_flat_table_reader_fuzz(tmp_path, body):
    path = tmp_path / "fuzz.csv"
    path.write_bytes(b"age,hgb,flag\n" + body)
    try:
        table = read_flat_table(path)
    except ExtractError:
        return
    assert list(table.columns)[:3] == ["age", "hgb", "flag"] and len(table.columns) == 3


_yaml_scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 700), st.text(max_size=8),
                          st.lists(st.integers(-5, 700), max_size=4))


@_FUZZ
@given(blocks=st.dictionaries(
    st.sampled_from(["name", "seed", "data", "horizons", "models", "tracking", "validation",
                     "baseline", "pipeline", "oops"]),
    st.one_of(_yaml_scalars, st.dictionaries(
        st.sampled_from(["table", "time", "event", "features", "select_metric", "scheme",
                         "kind", "cox", "n_splits"]), _yaml_scalars, max_size=3)), max_size=6))
def test_config_loader_fuzz(tmp_path, blocks):
    import yaml

    path = tmp_path / "fuzz.yaml"
    path.write_text(yaml.safe_dump(blocks))
    try:
        load_config(path)
    except ConfigError as e:
        assert str(e).startswith(str(path))
