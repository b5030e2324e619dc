"""pipelines/*.yaml: ordered named steps built into one sklearn Pipeline by build_pipeline."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from mmrisk.exceptions import ConfigError
from mmrisk.features import (
    PIPELINES_DIR,
    RISS,
    available_pipelines,
    available_transformers,
    build_pipeline,
    get_feature_lineage,
)

from .conftest import clinical_table

STAGING_INPUTS = [
    "beta2m_mg_L",
    "albumin_g_L",
    "ldh_U_L",
    "ldh_uln_U_L",
    "del17p",
    "t_4_14",
    "t_14_16",
]
DEFAULT_INPUTS = [
    *STAGING_INPUTS,
    "gain1q",
    "amp1q",
    "creatinine_umol_L",
    "age",
    "sex",
    "response_pre_asct",
    "response_day100",
]


def test_shipped_pipelines_are_listed():
    assert {"default", "staging", "passthrough"} <= set(available_pipelines())
    assert {p.stem for p in PIPELINES_DIR.glob("*.yaml")} == set(available_pipelines())


def test_registered_transformers():
    assert available_transformers() == [
        "EGFR_CKDEPI2021",
        "HighRiskCACount",
        "ISS",
        "R2ISS",
        "RISS",
        "ResponseDepth",
        "SimpleImputer",
        "StandardScaler",
        "drop_collinear",
        "encode",
        "select",
    ]


@pytest.mark.parametrize(
    ("name", "steps"),
    [
        ("default", ["iss", "riss", "r2iss", "hrca", "egfr", "response", "encode", "full_rank"]),
        ("staging", ["riss", "select", "encode"]),
        ("passthrough", ["numeric"]),
    ],
)
def test_step_names_in_order(name, steps):
    pipe = build_pipeline(name)
    assert isinstance(pipe, Pipeline)
    assert [n for n, _ in pipe.steps] == steps


@pytest.mark.parametrize("name", ["default", "staging", "passthrough"])
def test_pipelines_clone_fit_pickle(name):
    X = clinical_table()
    pipe = clone(build_pipeline(name)).fit(X)
    out = pipe.transform(X)
    again = pickle.loads(pickle.dumps(pipe)).transform(X)
    pd.testing.assert_frame_equal(out, again)
    assert list(out.columns) == list(pipe.get_feature_names_out())
    assert set(get_feature_lineage(pipe)) == set(out.columns)


def test_staging_is_riss_only_one_hot_with_riss_1_as_reference():
    X = clinical_table()
    out = build_pipeline("staging").fit_transform(X)
    assert list(out.columns) == ["cat__riss_2", "cat__riss_3", "cat__riss_missing"]
    riss = RISS().fit_transform(X)["riss"]  # 1, 2, 3, 2, NaN, 2, 3, 2
    assert riss.tolist()[:4] == [1.0, 2.0, 3.0, 2.0]
    expected = pd.DataFrame(
        {
            "cat__riss_2": (riss == 2).astype(float),
            "cat__riss_3": (riss == 3).astype(float),
            "cat__riss_missing": riss.isna().astype(float),
        }
    )
    pd.testing.assert_frame_equal(out, expected)
    lin = get_feature_lineage(build_pipeline("staging").fit(X))
    assert all(sources == STAGING_INPUTS for sources in lin.values())


def test_staging_reads_only_its_inputs():
    X = clinical_table()[STAGING_INPUTS]
    assert build_pipeline("staging").fit_transform(X).shape == (8, 3)


@pytest.mark.parametrize("column", DEFAULT_INPUTS)
def test_default_needs_each_input_column(column):
    X = clinical_table().drop(columns=[column])
    with pytest.raises(ValueError, match=f"input column '{column}' is missing from X"):
        build_pipeline("default").fit(X)


@pytest.mark.parametrize("column", STAGING_INPUTS)
def test_staging_needs_each_input_column(column):
    X = clinical_table()[STAGING_INPUTS].drop(columns=[column])
    with pytest.raises(ValueError, match=f"input column '{column}' is missing from X"):
        build_pipeline("staging").fit(X)


def test_default_output_is_complete_numeric_and_traceable():
    X = clinical_table()
    pipe = build_pipeline("default").fit(X)
    out = pipe.transform(X)
    assert not out.isna().any().any()
    assert all(np.issubdtype(t, np.floating) for t in out.dtypes)
    for derived in [
        "iss_computed",
        "riss",
        "r2iss_score",
        "r2iss_group",
        "hrca_count",
        "hrca_n_evaluable",
        "egfr_ckd_epi_2021",
        "response_pre_asct_depth",
        "response_day100_depth",
    ]:
        assert f"num__{derived}" in out.columns
    # response categories are replaced by their depth (keep_input: false)
    assert not any(c.startswith("cat__response_") for c in out.columns)
    # other columns pass through the encoder; the most frequent category ('yes') is the
    # reference and has no column
    assert "cat__bone_disease_no" in out.columns
    assert "cat__bone_disease_yes" not in out.columns
    lin = get_feature_lineage(pipe)
    used = {src for sources in lin.values() for src in sources}
    assert used == set(X.columns)


def test_passthrough_keeps_numeric_columns_unchanged():
    X = clinical_table()
    out = build_pipeline("passthrough").fit_transform(X)
    numeric = ["beta2m_mg_L", "albumin_g_L", "ldh_U_L", "ldh_uln_U_L", "creatinine_umol_L", "age"]
    pd.testing.assert_frame_equal(out, X[numeric])


def test_path_and_pipelines_dir(tmp_path):
    text = "steps:\n  - name: only\n    transformer: RISS\n"
    (tmp_path / "staging.yaml").write_text(text)
    by_dir = build_pipeline("staging", pipelines_dir=tmp_path)  # searched before shipped
    assert [n for n, _ in by_dir.steps] == ["only"]
    assert [n for n, _ in build_pipeline(tmp_path / "staging.yaml").steps] == ["only"]
    assert [n for n, _ in build_pipeline(str(tmp_path / "staging.yaml")).steps] == ["only"]
    assert [n for n, _ in build_pipeline("staging").steps] == ["riss", "select", "encode"]


def test_unknown_pipeline_name():
    with pytest.raises(
        ConfigError,
        match=r"^pipeline 'nope' not found \(searched .*\); "
        r"available: default, passthrough, staging\. Give a name or a path to a "
        r"\.yaml file\.$",
    ):
        build_pipeline("nope")


def test_missing_file():
    with pytest.raises(ConfigError, match=r"^/nonexistent/p\.yaml: pipeline file not found\.$"):
        build_pipeline("/nonexistent/p.yaml")


BAD = [
    (
        "unknown transformer",
        "steps:\n  - name: a\n    transformer: Nope\n",
        "step 'a', key 'transformer': unknown transformer 'Nope'; registered: EGFR_CKDEPI2021, "
        "HighRiskCACount, ISS, R2ISS, RISS, ResponseDepth, SimpleImputer, StandardScaler, "
        "drop_collinear, encode, select.",
    ),
    (
        "unknown parameter",
        "steps:\n  - name: iss\n    transformer: ISS\n    params: {beta2m: b2m}\n",
        "step 'iss' (ISS), key 'params.beta2m': unknown parameter; ISS takes beta2m_col, "
        "albumin_col, keep_input.",
    ),
    (
        "wrong type, bool",
        "steps:\n  - name: iss\n    transformer: ISS\n    params: {keep_input: 'no'}\n",
        "step 'iss' (ISS), key 'params.keep_input': expected bool, got str 'no'.",
    ),
    (
        "wrong type, int for bool",
        "steps:\n  - name: enc\n    transformer: encode\n    params: {scale: 1}\n",
        "step 'enc' (encode), key 'params.scale': expected bool, got int 1.",
    ),
    (
        "wrong type, list for a column",
        "steps:\n  - name: r\n    transformer: RISS\n    params: {del17p_col: [a]}\n",
        "step 'r' (RISS), key 'params.del17p_col': expected str | int, got list ['a'].",
    ),
    (
        "value out of range",
        "steps:\n  - name: h\n    transformer: HighRiskCACount\n    params: {min_evaluable: 7}\n",
        "step 'h' (HighRiskCACount), key 'params.min_evaluable': HighRiskCACount: "
        "min_evaluable must be an integer from 1 to 4; got 7.",
    ),
    (
        "value not allowed",
        "steps:\n  - name: enc\n    transformer: encode\n    params: {drop: last}\n",
        "step 'enc' (encode), key 'params.drop': expected Optional[Literal['first', "
        "'if_binary', 'most_frequent']], got str 'last'.",
    ),
    (
        "unknown step key",
        "steps:\n  - name: s\n    transformer: select\n    param: {}\n",
        "step 's', key 'param': unknown key; a step has name, transformer, params.",
    ),
    (
        "duplicate step name",
        "steps:\n  - name: s\n    transformer: select\n  - name: s\n    transformer: ISS\n",
        "step 's', key 'name': duplicate step name 's'.",
    ),
    (
        "missing transformer",
        "steps:\n  - name: s\n",
        "step 's', key 'transformer': required, a string; got None.",
    ),
    (
        "double underscore in name",
        "steps:\n  - name: a__b\n    transformer: ISS\n",
        "step 'a__b', key 'name': use letters, digits and single underscores, starting with a "
        "letter; got 'a__b'.",
    ),
    (
        "params not a mapping",
        "steps:\n  - name: s\n    transformer: ISS\n    params: [1]\n",
        "step 's', key 'params': must be a mapping of parameter: value; got [1].",
    ),
    (
        "parameter name not a string",
        "steps:\n  - name: s\n    transformer: ISS\n    params: {1: x}\n",
        "step 's', key 'params.1': parameter names must be strings.",
    ),
    (
        "unknown top-level key",
        "pipeline: x\nsteps:\n  - name: s\n    transformer: ISS\n",
        "key 'pipeline': unknown key; expected description, steps.",
    ),
    (
        "no steps",
        "description: nothing\n",
        "key 'steps': must be a non-empty list of steps; got None.",
    ),
    ("not a mapping", "- a\n- b\n", "key 'steps': the file must be a mapping with a 'steps' list."),
]


@pytest.mark.parametrize(("why", "text", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_yaml_names_file_step_and_key(tmp_path, why, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=f"^{re.escape(f'{path}: {message}')}$"):
        build_pipeline(path)


def test_invalid_yaml_syntax(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("steps: [\n")
    with pytest.raises(ConfigError, match=f"^{re.escape(str(path))}: not valid YAML: "):
        build_pipeline(path)


def test_config_error_is_a_value_error():
    assert issubclass(ConfigError, ValueError)


def test_params_reach_the_estimator(tmp_path):
    path = Path(tmp_path / "p.yaml")
    path.write_text(
        "steps:\n"
        "  - name: h\n    transformer: HighRiskCACount\n    params: {min_evaluable: 4}\n"
        "  - name: imp\n    transformer: SimpleImputer\n"
        "    params: {strategy: constant, fill_value: 0}\n"
    )
    pipe = build_pipeline(path)
    assert pipe.named_steps["h"].get_params()["min_evaluable"] == 4
    assert pipe.named_steps["imp"].get_params()["fill_value"] == 0
