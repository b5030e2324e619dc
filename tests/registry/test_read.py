"""The extract reader: three formats give the same tables; whatever cannot be read is an error
that names the file (and sheet) and says what was expected; nothing is dropped or fixed."""

from __future__ import annotations

import re
import shutil
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from mmrisk.exceptions import ExtractError
from mmrisk.registry import read_extract, validate_extract
from mmrisk.registry._spec import TABLE_ORDER, TABLES

BOOLS = {"true": True, "1": True, "1.0": True, "false": False, "0": False, "0.0": False}


def normalized(df: pd.DataFrame, table: str) -> pd.DataFrame:
    """The table's values in one representation per spec type (missing as None)."""
    out = {}
    for col in TABLES[table].columns:
        s = df[col.name]
        if col.dtype in ("int", "float"):
            v = pd.to_numeric(s).astype("float64")
        elif col.dtype == "date":
            v = pd.to_datetime(s.astype("string").str.slice(0, 10), format="%Y-%m-%d")
        elif col.dtype == "bool":
            v = s.astype("string").str.lower().map(BOOLS).astype("boolean")
        else:
            v = s.astype("string")
        out[col.name] = v.astype(object).where(v.notna(), None)
    return pd.DataFrame(out)


def copy_csv(clean_dirs, tmp_path: Path) -> Path:
    folder = tmp_path / "extract"
    shutil.copytree(clean_dirs["csv"], folder)
    return folder


def raises(path, *patterns: str):
    """read_extract(path) raises ExtractError whose message matches every pattern."""
    with pytest.raises(ExtractError) as info:
        read_extract(path)
    message = str(info.value)
    for p in patterns:
        assert re.search(p, message), message
    assert isinstance(info.value, ValueError)
    return message


# ============================================================================================
# formats


@pytest.mark.parametrize("fmt", ["csv", "parquet", "xlsx"])
def test_reads_every_table(clean_dirs, make_tables, fmt):
    extract = read_extract(clean_dirs[fmt])
    assert list(extract) == list(TABLE_ORDER) and len(extract) == len(TABLE_ORDER)
    assert extract.fmt == fmt
    expected = make_tables()
    for table in TABLE_ORDER:
        assert list(extract[table].columns) == TABLES[table].column_names
        assert len(extract[table]) == len(expected[table]), table
        source = extract.source_files[table]
        assert source == (f"{table}.{fmt}" if fmt != "xlsx" else f"extract.xlsx#{table}")


def test_csv_parquet_and_xlsx_give_equal_tables(clean_dirs, make_tables):
    """Equal to each other and to the hand-written fixture, once each value is typed."""
    fixture = make_tables()
    extracts = {fmt: read_extract(clean_dirs[fmt]) for fmt in ("csv", "parquet", "xlsx")}
    for table in TABLE_ORDER:
        expected = normalized(fixture[table], table)
        for fmt, extract in extracts.items():
            pd.testing.assert_frame_equal(normalized(extract[table], table), expected,
                                          obj=f"{fmt}:{table}")


def test_csv_and_excel_cells_stay_text(clean_dirs):
    """The reader does not convert: a wrong type is left for the validator to report."""
    for fmt in ("csv", "xlsx"):
        pats = read_extract(clean_dirs[fmt])["patients"]
        assert pats["birth_year"].map(type).eq(str).all()
        assert pats["ecog_at_diagnosis"].isna().sum() == 1  # empty cell → missing
    parquet = read_extract(clean_dirs["parquet"])["patients"]
    assert pd.api.types.is_integer_dtype(parquet["birth_year"])


def test_missing_markers_are_not_silently_missing(clean_dirs, tmp_path):
    folder = copy_csv(clean_dirs, tmp_path)
    labs = folder / "baseline_labs.csv"
    labs.write_text(labs.read_text().replace("P001,2010-03-10,112.5", "P001,2010-03-10,NA"))
    extract = read_extract(folder)
    assert extract["baseline_labs"].loc[0, "hemoglobin_g_L"] == "NA"
    finding = validate_extract(extract).iloc[0]
    assert (finding["table"], finding["row"], finding["column"], finding["check"]) == (
        "baseline_labs", 1, "hemoglobin_g_L", "type")


def test_row_numbers_follow_the_file(clean_dirs, tmp_path):
    """An inner blank line is a row (reported), trailing blank lines are not."""
    folder = copy_csv(clean_dirs, tmp_path)
    centers = folder / "centers.csv"
    header, c01, c02 = centers.read_text().splitlines()
    centers.write_text(f"{header}\n{c01}\n\n{c02}\n\n\n")
    extract = read_extract(folder)
    assert extract["centers"]["center_id"].tolist()[::2] == ["C01", "C02"]
    assert extract["centers"].iloc[1].isna().all()
    findings = validate_extract(extract)
    assert set(findings["row"]) == {2} and set(findings["check"]) == {"not_null"}
    assert set(findings["column"]) == set(TABLES["centers"].column_names)


def test_other_files_in_the_folder_are_ignored(clean_dirs, tmp_path):
    folder = copy_csv(clean_dirs, tmp_path)
    (folder / "truth_defects.csv").write_text("defect\nx\n")
    (folder / "analysis_view.csv").write_text("a\n1\n")
    (folder / "manifest.json").write_text("{}")
    (folder / "notes.txt").write_bytes(b"\x00\x01")
    (folder / "old").mkdir()
    assert list(read_extract(folder)) == list(TABLE_ORDER)


def test_unknown_table_name_lists_the_tables(clean_dirs):
    extract = read_extract(clean_dirs["csv"])
    with pytest.raises(KeyError, match="has no table 'labs'; it has centers, patients"):
        extract["labs"]


def test_sheet_names_are_matched_case_insensitively(clean_dirs, tmp_path, make_tables):
    path = tmp_path / "book.xlsx"
    with pd.ExcelWriter(path, engine="openpyxl") as xl:
        for name, df in make_tables().items():
            df.to_excel(xl, sheet_name=name.capitalize(), index=False)
    extract = read_extract(path)
    assert extract.source_files["patients"] == "book.xlsx#Patients"
    assert validate_extract(extract).empty


# ============================================================================================
# errors that name the file


def test_no_such_path(tmp_path):
    raises(tmp_path / "nowhere", r"nowhere: no such file or folder", r"extract folder")


@pytest.mark.parametrize("name", ["extract.txt", "patients.csv", "extract.xls", "extract"])
def test_a_single_file_that_is_not_a_workbook(tmp_path, name):
    path = tmp_path / name
    path.write_text("patient_id\nP001\n")
    raises(path, rf"^{re.escape(name)}: unsupported extract file type", r"\.xlsx workbook")


def test_folder_without_tables(tmp_path):
    raises(tmp_path, r"no registry table files found", r"patients\.csv")
    (tmp_path / "registry.xlsx").write_bytes(b"PK")
    raises(tmp_path, r"The folder holds registry\.xlsx: pass the workbook path instead")


def test_missing_tables_are_all_listed(clean_dirs, tmp_path):
    folder = copy_csv(clean_dirs, tmp_path)
    (folder / "spm.csv").unlink()
    (folder / "patients.csv").rename(folder / "patients.txt")
    raises(folder, r"missing required table\(s\): patients, spm",
           r"Found patients\.txt \(unsupported file type; expected patients\.csv or "
           r"patients\.parquet\)")


def test_one_table_in_two_files(clean_dirs, tmp_path):
    folder = copy_csv(clean_dirs, tmp_path)
    shutil.copy(clean_dirs["parquet"] / "spm.parquet", folder)
    raises(folder, r"table 'spm' is in two files \(spm\.csv and spm\.parquet\); keep one")


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_empty_table_file(clean_dirs, tmp_path, fmt):
    folder = tmp_path / "extract"
    shutil.copytree(clean_dirs[fmt], folder)
    (folder / f"followup.{fmt}").write_bytes(b"")
    raises(folder, rf"^followup\.{fmt}: empty file \(0 bytes\)", r"table 'followup'")


def test_empty_workbook(tmp_path):
    path = tmp_path / "book.xlsx"
    path.write_bytes(b"")
    raises(path, r"^book\.xlsx: empty file \(0 bytes\); expected an Excel workbook")


@pytest.mark.parametrize(("content", "patterns"), [
    (b"\n\n", [r"^spm\.csv: no header row"]),
    (b"PAR1\x00\x00PAR1", [r"^spm\.csv: is a Parquet file, not a CSV text file"]),
    (b"PK\x03\x04rest", [r"^spm\.csv: is a zip archive \(an Excel workbook\?\)"]),
    (b"patient_id,spm_date\x00,x\n", [r"^spm\.csv: is a binary file"]),
    ("patient_id,spm_date,category,invasive\nP001,2014-02-20,solid_côlon,true\n".encode(
        "latin-1"), [r"^spm\.csv: not UTF-8 text", r"save the table as a UTF-8 CSV"]),
    (b"patient_id,spm_date,spm_date,invasive\n", [r"duplicate column name\(s\).*spm_date"]),
    (b"patient_id;spm_date;category;invasive\nP001;2014-02-20;NMSC;true\n",
     [r"^spm\.csv: the header looks semicolon-separated"]),
    (b"patient_id,spm_date,category,invasive\nP001,2014-02-20,NMSC,true,\n",
     [r"^spm\.csv: data row 1 has 5 fields but the header names 4 columns"]),
    (b"patient_id,spm_date,category,invasive\nP001,2014-02-20,NMSC,true\nP002,x,y,z,w\n",
     [r"^spm\.csv: cannot be parsed as CSV for table 'spm'"]),
])
def test_unreadable_csv(clean_dirs, tmp_path, content, patterns):
    folder = copy_csv(clean_dirs, tmp_path)
    (folder / "spm.csv").write_bytes(content)
    raises(folder, *patterns)


def test_parquet_that_is_not_parquet(clean_dirs, tmp_path):
    folder = tmp_path / "extract"
    shutil.copytree(clean_dirs["parquet"], folder)
    shutil.copy(clean_dirs["csv"] / "spm.csv", folder / "spm.parquet")
    raises(folder, r"^spm\.parquet: not a Parquet file", r"name a CSV file spm\.csv")
    data = (clean_dirs["parquet"] / "spm.parquet").read_bytes()
    (folder / "spm.parquet").write_bytes(data[:4] + b"\x00" * 40 + data[-4:])
    raises(folder, r"^spm\.parquet: cannot be read as Parquet for table 'spm'")
    pd.DataFrame(index=range(3)).to_parquet(folder / "spm.parquet")
    raises(folder, r"^spm\.parquet: has no columns")


def _rewrite_zip(src: Path, dst: Path, change) -> None:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            zout.writestr(item, change(item.filename, zin.read(item.filename)))


def test_workbook_that_is_not_a_workbook(clean_dirs, tmp_path):
    path = tmp_path / "book.xlsx"
    shutil.copy(clean_dirs["csv"] / "patients.csv", path)
    raises(path, r"^book\.xlsx: cannot be read as an Excel workbook \(\.xlsx\)")
    _rewrite_zip(clean_dirs["xlsx"], path,
                 lambda name, data: b"garbage" if name == "xl/workbook.xml" else data)
    raises(path, r"^book\.xlsx: cannot be read as an Excel workbook")


def test_unreadable_sheet_names_the_sheet(clean_dirs, tmp_path):
    path = tmp_path / "book.xlsx"

    def truncate(name, data):
        is_labs = name.startswith("xl/worksheets/") and b"hemoglobin_g_L" in data
        return data[: len(data) // 2] if is_labs else data

    _rewrite_zip(clean_dirs["xlsx"], path, truncate)
    raises(path, r"^book\.xlsx#baseline_labs: cannot read the sheet of table 'baseline_labs'")


def test_workbook_missing_or_empty_sheet(tmp_path, make_tables):
    tables = make_tables()
    path = tmp_path / "book.xlsx"
    with pd.ExcelWriter(path, engine="openpyxl") as xl:
        for name, df in tables.items():
            if name != "spm":
                df.to_excel(xl, sheet_name=name, index=False)
        pd.DataFrame().to_excel(xl, sheet_name="notes")
    raises(path, r"^book\.xlsx: missing required sheet\(s\): spm", r"The workbook has: centers")
    with pd.ExcelWriter(path, engine="openpyxl") as xl:
        for name, df in tables.items():
            (df if name != "spm" else pd.DataFrame()).to_excel(xl, sheet_name=name, index=False)
    raises(path, r"^book\.xlsx#spm: empty sheet \(no header row\)")
