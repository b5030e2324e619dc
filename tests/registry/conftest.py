"""A small, hand-written CLEAN registry extract (four patients, two centres).

Every table of ``mmrisk.registry._spec.TABLES`` with every column, satisfying every rule of the
validator: types, codes, ranges, keys, foreign keys, date precision (month dates on day 15, year
dates on 07-01), the order of dates, ISS consistent with β2M and albumin, no duplicate patients.
Day-precision dates are never on day 15 or on 07-01, so that changing a precision always breaks
its convention. Dates of one patient are months apart, so that reading a coarse date as a day
never reverses an order.

It is written once per test session as a CSV folder, a Parquet folder (typed columns) and an
Excel workbook (typed cells). Tests that change it take a fresh copy with ``clean_tables()``.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from mmrisk.registry._spec import TABLE_ORDER, TABLES

CLEAN_CSV: dict[str, str] = {
    "centers": """\
center_id,province,lm_default_schedule,fish_1q_available_from,ldh_uln_U_L,data_quality_tier
C01,ON,21of28,2012,220,A
C02,QC,28of28,2014,200,B
""",
    "patients": """\
patient_id,center_id,sex,birth_year,diagnosis_date,diagnosis_date_precision,age_at_diagnosis,\
ecog_at_diagnosis,induction_start_date,induction_start_date_precision,\
on_clinical_trial_first_line,consent_date
P001,C01,M,1955,2010-03-04,day,55.2,1,2010-03-20,day,N,2010-04-02
P002,C01,F,1960,2012-05-15,month,52.3,,2012-06-11,day,Y,2012-07-09
P003,C02,M,1950,2011-07-01,year,60.9,0,2011-09-13,day,unknown,2011-10-05
P004,C02,F,1948,2013-02-06,day,64.9,2,2013-02-22,day,N,
""",
    "baseline_labs": """\
patient_id,sample_date,hemoglobin_g_L,calcium_mmol_L,creatinine_umol_L,egfr_ml_min_1_73m2,\
albumin_g_L,beta2m_mg_L,ldh_U_L,ldh_uln_U_L,heavy_chain,light_chain,serum_m_protein_g_L,\
urine_m_protein_mg_24h,flc_involved_mg_L,flc_uninvolved_mg_L,bm_plasma_cell_pct,bone_disease,\
extramedullary_disease,iss_recorded,ds_stage_recorded
P001,2010-03-10,112.5,2.35,88,78,38.2,2.9,190,220,IgG,kappa,35.2,150,420.5,12.1,45,yes,no,I,IIIA
P002,2012-06-01,98,2.6,130,45,32.1,4.2,260,220,IgA,lambda,28,,310,8.5,60,yes,unknown,II,
P003,2011-09-01,85,2.9,210,28,30.5,7.8,,200,none,kappa,0,850,1250,6,70,no,no,III,
P004,2013-02-14,121,2.2,70,85,41,2.1,150,200,IgG,lambda,41,0,95,10,30,unknown,no,,IIA
""",
    "cytogenetics": """\
patient_id,test_id,test_date,method,abnormality,result,pct_positive_nuclei,lab_cutoff_pct
P001,T1,2010-03-12,FISH_CD138_enriched,del17p,not_detected,,20
P001,T1,2010-03-12,FISH_CD138_enriched,t(4;14),detected,45,10
P001,T1,2010-03-12,FISH_CD138_enriched,gain1q,detected,30,20
P002,T2,2012-06-05,FISH_unenriched,del17p,failed,,20
P003,T3,2011-09-10,karyotype,hyperdiploid,detected,,
""",
    "treatment_lines": """\
patient_id,line_number,phase,regimen_code,regimen_text,start_date,start_date_precision,end_date,\
end_date_precision,n_cycles,reason_end
P001,1,induction,CyBorD,CyBorD,2010-03-20,day,2010-07-02,day,4,proceed_to_ASCT
P001,1,maintenance,other,lenalidomide,2010-10-20,day,2013-04-09,day,,progression
P002,1,induction,VRD,VRD,2012-06-11,day,2012-09-20,day,4,proceed_to_ASCT
P003,1,induction,CyBorD,Cy-Bor-Dex,2011-09-13,day,2012-01-05,day,4,proceed_to_ASCT
P003,2,salvage,KRd,KRd,2013-05-15,month,,,6,ongoing
P004,1,induction,VD,Velcade-Dex,2013-02-22,day,2013-06-10,day,4,proceed_to_ASCT
""",
    "transplants": """\
patient_id,transplant_seq,transplant_type,mobilization,cd34_collected_1e6_per_kg,conditioning,\
melphalan_mg_m2,infusion_date,infusion_date_precision,anc_engraftment_day,response_pre_asct
P001,1,auto_upfront,GCSF,6.2,MEL200,200,2010-07-28,day,12,VGPR
P002,1,auto_upfront,GCSF_plerixafor,4.1,MEL140,140,2012-10-18,day,14,PR
P002,2,auto_tandem,GCSF_plerixafor,,MEL200,200,2013-02-12,day,13,VGPR
P003,1,auto_upfront,CY_GCSF,8.8,MEL200,200,2012-02-09,day,11,PR
P004,1,auto_upfront,GCSF,5.5,MEL200,200,2013-07-04,day,,CR
""",
    "response_assessments": """\
patient_id,assessment_date,timepoint,imwg_response,serum_m_protein_g_L,urine_m_protein_mg_24h,\
flc_ratio,bm_pc_pct,serum_ife,urine_ife,mrd_method,mrd_sensitivity,mrd_result,confirmed
P001,2010-07-05,post_induction,VGPR,2.1,,1.8,,positive,negative,none,,not_done,false
P001,2010-11-05,day100,CR,0,0,1.1,2,negative,negative,NGF,1e-5,negative,true
P002,2012-09-24,post_induction,PR,9.5,120,3.2,,positive,positive,none,,not_done,False
P003,2012-05-18,day100,PR,12.4,300,8.9,15,positive,positive,,,,0
P004,2013-10-11,day100,sCR,0,0,1.0,1,negative,negative,NGS,1e-6,negative,True
""",
    "maintenance_episodes": """\
patient_id,episode_id,agent,start_date,start_date_precision,end_date,end_date_precision,schedule,\
starting_dose_mg,reason_stopped
P001,P001-M1,lenalidomide,2010-10-20,day,2013-04-09,day,21of28,10,progression
P002,P002-M1,lenalidomide,2013-05-02,day,,,28of28,5,ongoing
P004,P004-M1,lenalidomide,2013-10-21,day,2014-03-17,day,,10,toxicity_hematologic
P004,P004-M2,lenalidomide,2014-06-09,day,2015-01-14,day,21of28,5,patient_choice
""",
    "maintenance_dose_changes": """\
patient_id,episode_id,change_date,new_dose_mg,new_schedule,reason
P001,P001-M1,2011-06-14,5,21of28,neutropenia
P001,P001-M1,2011-08-02,0,,infection
P004,P004-M1,2013-12-03,5,28of28,thrombocytopenia
""",
    "disease_events": """\
patient_id,event_date,event_date_precision,event_type,criterion,date_source,\
on_maintenance_at_event
P001,2013-04-02,day,progression,serum_M,lab,true
P003,2013-04-15,month,progression,FLC,next_line_proxy,1
""",
    "spm": """\
patient_id,spm_date,category,invasive
P001,2014-02-20,solid_prostate,true
""",
    "followup": """\
patient_id,last_contact_date,last_contact_date_precision,vital_status,death_date,\
death_date_precision,cause_of_death,status_source,transferred_to_community,lost_to_followup
P001,2015-02-18,day,dead,2015-03-10,day,myeloma,provincial_registry,false,false
P002,2017-11-20,day,alive,,,,clinic,false,false
P003,2014-07-01,year,unknown,,,,clinic,true,true
P004,2016-09-08,day,dead,2016-10-15,month,infection,obituary,False,0
""",
}


def clean_tables() -> dict[str, pd.DataFrame]:
    """A fresh copy of the clean extract, as the CSV reader returns it (strings, NaN = empty)."""
    tables = {}
    for name in TABLE_ORDER:
        df = pd.read_csv(io.StringIO(CLEAN_CSV[name]), dtype=str, keep_default_na=False)
        assert list(df.columns) == TABLES[name].column_names, name
        tables[name] = df.mask(df == "")
    return tables


def typed_tables(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The tables with the column types of the spec (what a Parquet writer would store)."""
    out = {}
    for name, df in tables.items():
        typed = {}
        for col in TABLES[name].columns:
            s = df[col.name]
            if col.dtype == "int":
                s = pd.to_numeric(s).astype("Int64")
            elif col.dtype == "float":
                s = pd.to_numeric(s).astype("float64")
            elif col.dtype == "date":
                s = pd.to_datetime(s, format="%Y-%m-%d")
            elif col.dtype == "bool":
                s = s.map({"true": True, "True": True, "1": True, "false": False,
                           "False": False, "0": False}).astype("boolean")
            typed[col.name] = s
        out[name] = pd.DataFrame(typed)
    return out


def write_csv(tables: dict[str, pd.DataFrame], folder: Path) -> Path:
    """Write every table as ``<table>.csv`` (missing values empty)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, df in tables.items():
        df.to_csv(folder / f"{name}.csv", index=False)
    return folder


def write_parquet(tables: dict[str, pd.DataFrame], folder: Path) -> Path:
    """Write every table as ``<table>.parquet`` with typed columns."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, df in typed_tables(tables).items():
        df.to_parquet(folder / f"{name}.parquet", index=False)
    return folder


def write_xlsx(tables: dict[str, pd.DataFrame], path: Path) -> Path:
    """Write one sheet per table with typed cells (numbers, dates, booleans)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        for name, df in typed_tables(tables).items():
            df.astype(object).where(df.notna(), None).to_excel(writer, sheet_name=name,
                                                               index=False)
    return path


@pytest.fixture(scope="session")
def clean_dirs(tmp_path_factory) -> dict[str, Path]:
    """The clean extract on disk, once per session.

    ``{"csv": dir, "parquet": dir, "xlsx": file}``.
    """
    root = tmp_path_factory.mktemp("clean_extract")
    tables = clean_tables()
    return {
        "csv": write_csv(tables, root / "csv"),
        "parquet": write_parquet(tables, root / "parquet"),
        "xlsx": write_xlsx(tables, root / "xlsx" / "extract.xlsx"),
    }


@pytest.fixture(scope="session")
def make_tables() -> Callable[[], dict[str, pd.DataFrame]]:
    """A factory of fresh copies of the clean tables (safe to modify)."""
    return clean_tables


@pytest.fixture(scope="session")
def writers() -> dict[str, Callable]:
    """Writers of a table dict.

    ``{"csv": fn(tables, dir), "parquet": ..., "xlsx": fn(tables, file)}``.
    """
    return {"csv": write_csv, "parquet": write_parquet, "xlsx": write_xlsx}
