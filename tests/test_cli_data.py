"""``mmrisk --version``, ``mmrisk data simulate`` and ``mmrisk data validate`` through CliRunner:
exit codes, what the user reads, and files written. A user error is one clear message and a
non-zero exit, never a traceback."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from mmrisk import __version__
from mmrisk.cli import app
from mmrisk.registry._spec import TABLE_ORDER

runner = CliRunner()

_spec = importlib.util.spec_from_file_location(
    "registry_clean_fixture", Path(__file__).parent / "registry" / "conftest.py")
fixture = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fixture)


def squash(text: str) -> str:
    """The text without whitespace (rich wraps long lines and paths at the console width)."""
    return "".join(text.split())


def invoke(*args: str):
    result = runner.invoke(app, [str(a) for a in args])
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"uncaught {type(result.exception).__name__}: {result.exception}")
    return result


def says(result, text: str) -> bool:
    return squash(text) in squash(result.output)


@pytest.fixture
def clean_csv(tmp_path) -> Path:
    """The hand-written clean extract of tests/registry/conftest.py, as a CSV folder."""
    return fixture.write_csv(fixture.clean_tables(), tmp_path / "clean")


def with_change(tmp_path: Path, change) -> Path:
    tables = fixture.clean_tables()
    change(tables)
    return fixture.write_csv(tables, tmp_path / "changed")


def test_version():
    result = invoke("--version")
    assert result.exit_code == 0
    assert result.output.strip() == f"mmrisk {__version__}"


# ============================================================================================
# data simulate


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_simulate_writes_every_table_and_a_manifest(tmp_path, fmt):
    out = tmp_path / "sim"
    result = invoke("data", "simulate", "--out", out, "--n", "25", "--seed", "5",
                    "--format", fmt)
    assert result.exit_code == 0, result.output
    assert says(result, f"Wrote 25 patients to {out} ({fmt}, seed 5).")
    assert says(result, "Registry summary")
    manifest = json.loads((out / "manifest.json").read_text())
    assert (manifest["n_patients"], manifest["seed"], manifest["format"]) == (25, 5, fmt)
    for table in (*TABLE_ORDER, "truth_defects", "truth_patients", "analysis_view"):
        assert (out / f"{table}.{fmt}").is_file(), table
    patients = (pd.read_csv if fmt == "csv" else pd.read_parquet)(out / f"patients.{fmt}")
    assert len(patients) >= 25


def test_simulate_says_why_the_patients_table_has_more_rows(tmp_path):
    result = invoke("data", "simulate", "--out", tmp_path, "--n", "400", "--seed", "5")
    assert result.exit_code == 0, result.output
    patients = pd.read_parquet(tmp_path / "patients.parquet")
    defects = pd.read_parquet(tmp_path / "truth_defects.parquet")
    duplicates = int((defects["defect"] == "duplicate_patient").sum())
    assert duplicates > 0 and len(patients) == 400 + duplicates
    assert says(result, f"Wrote 400 patients to {tmp_path}")
    assert says(result, f"The patients table has {len(patients)} rows: {duplicates} duplicate "
                        "registrations injected as data-quality defects")
    assert says(result, f"patient records │ {len(patients)}")


def test_simulate_clean_has_no_defect_file(tmp_path):
    result = invoke("data", "simulate", "--out", tmp_path, "--n", "20", "--clean")
    assert result.exit_code == 0
    assert says(result, "(parquet, seed 42, clean)")
    assert not (tmp_path / "truth_defects.parquet").exists()


@pytest.mark.parametrize(("args", "code"), [
    (["--n", "0"], 2),
    (["--format", "xlsx"], 2),
    (["--seed", "x"], 2),
])
def test_simulate_bad_options_are_usage_errors(tmp_path, args, code):
    result = invoke("data", "simulate", "--out", tmp_path / "x", *args)
    assert result.exit_code == code
    assert not (tmp_path / "x").exists()


def test_simulate_into_a_file_is_a_clean_error(tmp_path):
    target = tmp_path / "taken"
    target.write_text("not a folder")
    result = invoke("data", "simulate", "--out", target, "--n", "10")
    assert result.exit_code == 1
    assert says(result, f"Error: Cannot create the output folder {target}")


def test_simulate_over_an_extract_of_the_other_format(tmp_path):
    assert invoke("data", "simulate", "--out", tmp_path, "--n", "10", "--format",
                  "csv").exit_code == 0
    result = invoke("data", "simulate", "--out", tmp_path, "--n", "10")
    assert result.exit_code in (0, 1)
    assert "Traceback" not in result.output
    if result.exit_code == 1:
        assert says(result, "Error:")


# ============================================================================================
# data validate


def test_validate_clean_extract_exits_0(clean_csv):
    result = invoke("data", "validate", clean_csv)
    assert result.exit_code == 0, result.output
    assert says(result, f"{clean_csv}: no findings.")


def test_validate_clean_workbook_exits_0(tmp_path):
    path = fixture.write_xlsx(fixture.clean_tables(), tmp_path / "book.xlsx")
    assert invoke("data", "validate", path).exit_code == 0


def test_validate_error_exits_1(tmp_path):
    def change(t):
        t["baseline_labs"].loc[2, "creatinine_umol_L"] = "1.2"  # mg/dL

    result = invoke("data", "validate", with_change(tmp_path, change))
    assert result.exit_code == 1
    assert says(result, "1 error(s), 0 warning(s)")
    for text in ("baseline_labs", "creatinine_umol_L", "unit"):
        assert text in result.output


def test_validate_warnings_only_exits_0(tmp_path):
    def change(t):
        t["patients"].loc[0, "diagnosis_date_precision"] = "month"

    result = invoke("data", "validate", with_change(tmp_path, change))
    assert result.exit_code == 0
    assert says(result, "0 error(s), 1 warning(s)")


def _two_findings(t):
    t["baseline_labs"].loc[2, "creatinine_umol_L"] = "1.2"
    t["followup"]["comment"] = "x"


def test_report_csv_has_one_line_per_finding(tmp_path):
    report = tmp_path / "out" / "report.csv"
    result = invoke("data", "validate", with_change(tmp_path, _two_findings), "--report", report)
    assert result.exit_code == 1
    assert says(result, f"Wrote every finding (2 rows) to {report}")
    rows = pd.read_csv(report, dtype=str, keep_default_na=False)
    assert list(rows.columns) == ["table", "row", "patient_id", "column", "value", "check",
                                  "severity", "message"]
    got = rows[["table", "row", "patient_id", "column", "value", "check", "severity"]]
    assert got.values.tolist() == [
        ["baseline_labs", "3", "P003", "creatinine_umol_L", "1.2", "unit", "error"],
        ["followup", "", "", "comment", "", "unknown_column", "warning"],
    ]


def test_report_json(tmp_path):
    report = tmp_path / "report.json"
    result = invoke("data", "validate", with_change(tmp_path, _two_findings), "--report", report)
    assert result.exit_code == 1
    records = json.loads(report.read_text())
    assert len(records) == 2
    assert {k: records[0][k] for k in ("table", "row", "column", "value", "check")} == {
        "table": "baseline_labs", "row": 3, "column": "creatinine_umol_L", "value": "1.2",
        "check": "unit"}
    assert records[1]["row"] is None and records[1]["severity"] == "warning"


def test_report_of_a_clean_extract_is_empty(clean_csv, tmp_path):
    report = tmp_path / "report.csv"
    assert invoke("data", "validate", clean_csv, "--report", report).exit_code == 0
    assert pd.read_csv(report).empty


def test_validate_default_simulation_exits_1_and_reports_injected_errors(tmp_path):
    out, report = tmp_path / "sim", tmp_path / "report.csv"
    assert invoke("data", "simulate", "--out", out, "--n", "400", "--seed", "3").exit_code == 0
    truth = pd.read_parquet(out / "truth_defects.parquet")
    injected = truth[truth["severity"] == "error"]
    assert len(injected) > 0  # the seed injects errors, so validate must fail
    result = invoke("data", "validate", out, "--report", report)
    assert result.exit_code == 1
    found = pd.read_csv(report, dtype=str)
    found = set(zip(found["table"], found["patient_id"], found["column"], strict=True))
    missed = [k for k in zip(injected["table"], injected["patient_id"], injected["column"],
                             strict=True) if k not in found]
    assert not missed


@pytest.mark.parametrize("name", ["nowhere", "extract.txt"])
def test_validate_bad_path_is_one_clean_message(tmp_path, name):
    path = tmp_path / name
    if name.endswith(".txt"):
        path.write_text("x")
    result = invoke("data", "validate", path)
    assert result.exit_code == 1
    assert result.output.startswith("Error: ")
    assert says(result, str(path.name))


def test_validate_wrong_file_type_names_the_file(clean_csv):
    (clean_csv / "spm.csv").write_bytes(b"PAR1\x00\x00PAR1")
    result = invoke("data", "validate", clean_csv)
    assert result.exit_code == 1
    assert says(result, "Error: spm.csv: is a Parquet file, not a CSV text file")


def test_validate_missing_table_names_it(clean_csv):
    (clean_csv / "followup.csv").unlink()
    result = invoke("data", "validate", clean_csv)
    assert result.exit_code == 1
    assert says(result, "missing required table(s): followup")


def test_validate_bad_report_suffix_is_a_clean_error(clean_csv, tmp_path):
    result = invoke("data", "validate", clean_csv, "--report", tmp_path / "report.txt")
    assert result.exit_code == 1
    assert says(result, "Error: report.txt: unsupported report file type '.txt'; use .csv or "
                        ".json")


def test_validate_report_in_an_unwritable_place(clean_csv, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = invoke("data", "validate", clean_csv, "--report", blocker / "report.csv")
    assert result.exit_code == 1
    assert says(result, "cannot write the report")


def test_validate_without_path_is_a_usage_error():
    result = invoke("data", "validate")
    assert result.exit_code == 2
    assert "Missing argument" in result.output


def test_cohort_build_validates_a_whole_experiment_config(tmp_path):
    """A typo outside the cohort block is found by cohort build, not later by train; a file
    with only a cohort block stays valid."""
    simulate_out = tmp_path / "sim"
    assert invoke("data", "simulate", "--out", simulate_out, "--n", "60").exit_code == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ncohort: {landmark: lm_start}\nmodels: {cox: {kind: cox}}\n"
                   "validation: {n_split: 3}\n")
    res = invoke("cohort", "build", simulate_out, "--config", bad, "--out", tmp_path / "c.parquet")
    assert res.exit_code == 1 and says(res, "validation.n_split")
    assert "Traceback" not in res.output and not (tmp_path / "c.parquet").exists()
    only = tmp_path / "only.yaml"
    only.write_text("cohort: {landmark: lm_start}\n")
    res = invoke("cohort", "build", simulate_out, "--config", only, "--out",
                 tmp_path / "c.parquet")
    assert res.exit_code == 0, res.output
