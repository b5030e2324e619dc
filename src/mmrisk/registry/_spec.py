"""The one table specification of a registry extract (docs/registry.md §3).

Everything that knows about the extract's tables reads this module: the synthetic generator
orders its columns by it, the pandera schemas of the validator are generated from it, and the
README's data contract is written from it. Change a column here, and all three follow.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "ColumnSpec",
    "TableSpec",
    "TABLES",
    "TABLE_ORDER",
    "DATE_ORDER_RULES",
    "IMWG_RESPONSES",
    "LEGACY_RESPONSE_CODES",
    "UNIT_HINTS",
    "contract_markdown",
]

PRECISIONS = ("day", "month", "year")
IMWG_RESPONSES = ("sCR", "CR", "VGPR", "PR", "MR", "SD", "PD", "NE")
LEGACY_RESPONSE_CODES = {"nCR": "VGPR or CR (legacy EBMT 'near CR')", "uCR": "CR (unconfirmed)"}
REGIMENS = (
    "CyBorD", "VD", "VTD", "PAD", "VRD", "DVRD", "Rd", "KRd", "DRd", "PomDex", "Kd", "DVd", "other",
)
ABNORMALITIES = (
    "del17p", "t(4;14)", "t(14;16)", "t(14;20)", "gain1q", "amp1q", "del1p", "del13q",
    "t(11;14)", "hyperdiploid",
)


@dataclass(frozen=True)
class ColumnSpec:
    """One column: its type, whether it may be empty, its allowed codes or range, its unit.

    Parameters
    ----------
    name : str
        Column name, as in the file's header.
    dtype : {"str", "int", "float", "date", "bool"}
        Type the values must parse as; dates are ``YYYY-MM-DD``.
    nullable : bool, default=True
        Whether the column may hold missing values.
    allowed : tuple of str or None, default=None
        The allowed codes; ``None``: any value of the type.
    min : float or None, default=None
        Smallest valid value of an ``int`` or ``float`` column (inclusive); ``None``: no bound.
    max : float or None, default=None
        Largest valid value of an ``int`` or ``float`` column (inclusive); ``None``: no bound.
    unit : str, default=""
        Unit of the values, shown in validation messages and the data contract.
    description : str, default=""
        What the column holds, for the data contract.
    """

    name: str
    dtype: str  # "str", "int", "float", "date", "bool"
    nullable: bool = True
    allowed: tuple[str, ...] | None = None
    min: float | None = None
    max: float | None = None
    unit: str = ""
    description: str = ""


@dataclass(frozen=True)
class TableSpec:
    """One table: its columns, its key and its references to other tables.

    Parameters
    ----------
    name : str
        Table name (the file is ``<name>.csv`` / ``.parquet``, or the workbook sheet
        ``<name>``).
    columns : tuple of ColumnSpec
        The columns, in file order.
    key : tuple of str
        Columns whose values identify a row; a repeated key is an error.
    foreign_keys : dict of str to str, default={}
        Column mapped to the ``"table.column"`` its values must exist in.
    description : str, default=""
        What one row of the table is, for the data contract.

    Attributes
    ----------
    column_names : list of str
        The names of ``columns``, in order.
    """

    name: str
    columns: tuple[ColumnSpec, ...]
    key: tuple[str, ...]
    foreign_keys: dict[str, str] = field(default_factory=dict)  # column -> "table.column"
    description: str = ""

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> ColumnSpec:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


def _s(name, allowed=None, nullable=True, description=""):
    return ColumnSpec(name, "str", nullable, tuple(allowed) if allowed else None,
                      description=description)


def _f(name, lo, hi, unit="", nullable=True, description=""):
    return ColumnSpec(name, "float", nullable, None, lo, hi, unit, description)


def _i(name, lo=None, hi=None, nullable=True, description=""):
    return ColumnSpec(name, "int", nullable, None, lo, hi, description=description)


def _b(name, nullable=True, description=""):
    return ColumnSpec(name, "bool", nullable, description=description)


def _d(name, nullable=True, precision=True, description=""):
    """A date column, with its companion ``<name>_precision`` column."""
    cols = [ColumnSpec(name, "date", nullable, description=description)]
    if precision:
        cols.append(_s(f"{name}_precision", PRECISIONS, nullable))
    return tuple(cols)


PID = _s("patient_id", nullable=False, description="registry patient identifier")

_TABLES = [
    TableSpec(
        "centers",
        (
            _s("center_id", nullable=False),
            _s("province", ("BC", "AB", "SK", "MB", "ON", "QC", "NB", "NS"), nullable=False),
            _s("lm_default_schedule", ("21of28", "28of28"), nullable=False),
            _i("fish_1q_available_from", 2005, 2030, nullable=False),
            _i("ldh_uln_U_L", 150, 300, nullable=False),
            _s("data_quality_tier", ("A", "B", "C"), nullable=False),
        ),
        key=("center_id",),
        description="participating centres and their local conventions",
    ),
    TableSpec(
        "patients",
        (
            PID,
            _s("center_id", nullable=False),
            _s("sex", ("M", "F"), nullable=False),
            _i("birth_year", 1920, 2000, nullable=False),
            *_d("diagnosis_date", nullable=False),
            _f("age_at_diagnosis", 18, 80, "years", nullable=False),
            _i("ecog_at_diagnosis", 0, 4),
            *_d("induction_start_date", nullable=False),
            _s("on_clinical_trial_first_line", ("Y", "N", "unknown")),
            *_d("consent_date", precision=False),
        ),
        key=("patient_id",),
        foreign_keys={"center_id": "centers.center_id"},
        description="one row per patient: demographics and the time origin (T0)",
    ),
    TableSpec(
        "baseline_labs",
        (
            PID,
            *_d("sample_date", precision=False),
            _f("hemoglobin_g_L", 50, 170, "g/L"),
            _f("calcium_mmol_L", 1.8, 4.0, "mmol/L"),
            _f("creatinine_umol_L", 40, 1200, "µmol/L"),
            _f("egfr_ml_min_1_73m2", 5, 130, "mL/min/1.73m²"),
            _f("albumin_g_L", 15, 55, "g/L"),
            _f("beta2m_mg_L", 0.8, 40, "mg/L"),
            _f("ldh_U_L", 80, 1500, "U/L"),
            _i("ldh_uln_U_L", 150, 300),
            _s("heavy_chain", ("IgG", "IgA", "IgD", "IgM", "none", "nonsecretory")),
            _s("light_chain", ("kappa", "lambda", "none")),
            _f("serum_m_protein_g_L", 0, 120, "g/L"),
            _f("urine_m_protein_mg_24h", 0, 20000, "mg/24h"),
            _f("flc_involved_mg_L", 0, 50000, "mg/L"),
            _f("flc_uninvolved_mg_L", 0, 5000, "mg/L"),
            _f("bm_plasma_cell_pct", 0, 100, "%"),
            _s("bone_disease", ("yes", "no", "unknown")),
            _s("extramedullary_disease", ("yes", "no", "unknown")),
            _s("iss_recorded", ("I", "II", "III")),
            _s("ds_stage_recorded", ("IA", "IB", "IIA", "IIB", "IIIA", "IIIB")),
        ),
        key=("patient_id",),
        foreign_keys={"patient_id": "patients.patient_id"},
        description="labs at diagnosis, closest to and no later than T0",
    ),
    TableSpec(
        "cytogenetics",
        (
            PID,
            _s("test_id", nullable=False),
            *_d("test_date", precision=False),
            _s("method", ("FISH_CD138_enriched", "FISH_unenriched", "karyotype")),
            _s("abnormality", ABNORMALITIES, nullable=False),
            _s("result", ("detected", "not_detected", "failed", "not_tested")),
            _f("pct_positive_nuclei", 0, 100, "%"),
            _f("lab_cutoff_pct", 0, 100, "%"),
        ),
        key=("patient_id", "test_id", "abnormality"),
        foreign_keys={"patient_id": "patients.patient_id"},
        description="FISH and karyotype results, one row per test and abnormality",
    ),
    TableSpec(
        "treatment_lines",
        (
            PID,
            _i("line_number", 1, 20, nullable=False),
            _s("phase", ("induction", "consolidation", "maintenance", "salvage"), nullable=False),
            _s("regimen_code", REGIMENS),
            _s("regimen_text"),
            *_d("start_date", nullable=False),
            *_d("end_date"),
            _i("n_cycles", 0, 200),
            _s("reason_end", ("planned_completion", "proceed_to_ASCT", "progression", "toxicity",
                              "patient_choice", "death", "other", "unknown", "ongoing")),
        ),
        key=("patient_id", "line_number", "phase"),
        foreign_keys={"patient_id": "patients.patient_id"},
        description="lines of therapy (IMWG definition): induction, maintenance, salvage",
    ),
    TableSpec(
        "transplants",
        (
            PID,
            _i("transplant_seq", 1, 5, nullable=False),
            _s("transplant_type", ("auto_upfront", "auto_tandem", "auto_salvage", "allo"),
               nullable=False),
            _s("mobilization", ("GCSF", "GCSF_plerixafor", "CY_GCSF")),
            _f("cd34_collected_1e6_per_kg", 1, 40, "10⁶/kg"),
            _s("conditioning", ("MEL200", "MEL140", "other")),
            _i("melphalan_mg_m2", 60, 240),
            *_d("infusion_date", nullable=False),
            _i("anc_engraftment_day", 5, 40),
            _s("response_pre_asct", IMWG_RESPONSES),
        ),
        key=("patient_id", "transplant_seq"),
        foreign_keys={"patient_id": "patients.patient_id"},
        description="autologous (and rare allogeneic) transplants; seq 1 is day 0",
    ),
    TableSpec(
        "response_assessments",
        (
            PID,
            *_d("assessment_date", precision=False, nullable=False),
            _s("timepoint", ("post_induction", "pre_ASCT", "day100", "m6", "m12", "annual",
                             "best_on_maintenance", "at_progression"), nullable=False),
            _s("imwg_response", IMWG_RESPONSES),
            _f("serum_m_protein_g_L", 0, 120, "g/L"),
            _f("urine_m_protein_mg_24h", 0, 20000, "mg/24h"),
            _f("flc_ratio", 0, 10000),
            _f("bm_pc_pct", 0, 100, "%"),
            _s("serum_ife", ("negative", "positive", "not_done")),
            _s("urine_ife", ("negative", "positive", "not_done")),
            _s("mrd_method", ("NGF", "NGS", "ASO_PCR", "none")),
            _s("mrd_sensitivity", ("1e-5", "1e-6")),
            _s("mrd_result", ("negative", "positive", "not_done")),
            _b("confirmed"),
        ),
        key=("patient_id", "timepoint", "assessment_date"),
        foreign_keys={"patient_id": "patients.patient_id"},
        description="IMWG response assessments",
    ),
    TableSpec(
        "maintenance_episodes",
        (
            PID,
            _s("episode_id", nullable=False),
            _s("agent", ("lenalidomide",), nullable=False),
            *_d("start_date", nullable=False),
            *_d("end_date"),
            _s("schedule", ("21of28", "28of28")),
            _f("starting_dose_mg", 2.5, 25, "mg"),
            _s("reason_stopped", ("progression", "toxicity_hematologic", "toxicity_nonhematologic",
                                  "infection", "SPM", "patient_choice", "physician_decision",
                                  "death", "ongoing", "lost_to_followup", "unknown")),
        ),
        key=("episode_id",),
        foreign_keys={"patient_id": "patients.patient_id"},
        description="lenalidomide maintenance courses",
    ),
    TableSpec(
        "maintenance_dose_changes",
        (
            PID,
            _s("episode_id", nullable=False),
            *_d("change_date", precision=False, nullable=False),
            _f("new_dose_mg", 0, 25, "mg"),
            _s("new_schedule", ("21of28", "28of28")),
            _s("reason", ("neutropenia", "thrombocytopenia", "rash", "fatigue", "diarrhea",
                          "infection", "renal", "VTE", "other", "unknown", "resumed")),
        ),
        key=("episode_id", "change_date"),
        foreign_keys={"patient_id": "patients.patient_id",
                      "episode_id": "maintenance_episodes.episode_id"},
        description="dose reductions, interruptions (dose 0) and resumptions",
    ),
    TableSpec(
        "disease_events",
        (
            PID,
            *_d("event_date", nullable=False),
            _s("event_type", ("progression", "relapse_from_CR", "biochemical_progression",
                              "clinical_progression"), nullable=False),
            _s("criterion", ("serum_M", "urine_M", "FLC", "BM_PC", "new_bone_lesion",
                             "plasmacytoma", "hypercalcemia", "other")),
            _s("date_source", ("lab", "clinic_note", "next_line_proxy")),
            _b("on_maintenance_at_event"),
        ),
        key=("patient_id", "event_date"),
        foreign_keys={"patient_id": "patients.patient_id"},
        description="progression and relapse events",
    ),
    TableSpec(
        "spm",
        (
            PID,
            *_d("spm_date", precision=False, nullable=False),
            _s("category", None, nullable=False,
               description="MDS, AML, B-ALL, Hodgkin, NHL, solid_<site>, NMSC, melanoma"),
            _b("invasive"),
        ),
        key=("patient_id", "spm_date"),
        foreign_keys={"patient_id": "patients.patient_id"},
        description="second primary malignancies",
    ),
    TableSpec(
        "followup",
        (
            PID,
            *_d("last_contact_date", nullable=False),
            _s("vital_status", ("alive", "dead", "unknown"), nullable=False),
            *_d("death_date"),
            _s("cause_of_death", ("myeloma", "infection", "SPM", "treatment_related",
                                  "cardiovascular", "other", "unknown")),
            _s("status_source", ("clinic", "provincial_registry", "obituary")),
            _b("transferred_to_community"),
            _b("lost_to_followup"),
        ),
        key=("patient_id",),
        foreign_keys={"patient_id": "patients.patient_id"},
        description="last contact and vital status",
    ),
]

TABLES: dict[str, TableSpec] = {t.name: t for t in _TABLES}
TABLE_ORDER: tuple[str, ...] = tuple(TABLES)

#: Date-order rules checked per patient: (earlier table.column, later table.column, severity).
#: ``first``/``last`` pick the earliest/latest date when a patient has several rows.
DATE_ORDER_RULES: tuple[tuple[str, str, str], ...] = (
    ("patients.diagnosis_date", "patients.induction_start_date", "error"),
    ("patients.induction_start_date", "transplants.infusion_date@first", "error"),
    ("transplants.infusion_date@first", "maintenance_episodes.start_date@first", "error"),
    ("maintenance_episodes.start_date@first", "maintenance_episodes.end_date@last", "error"),
    ("transplants.infusion_date@first", "disease_events.event_date@first", "error"),
    ("baseline_labs.sample_date", "patients.induction_start_date", "warning"),
    ("disease_events.event_date@last", "followup.death_date", "error"),
    ("maintenance_episodes.start_date@last", "followup.death_date", "error"),
    ("transplants.infusion_date@last", "followup.death_date", "error"),
    ("followup.last_contact_date", "followup.death_date", "error"),
    ("disease_events.event_date@last", "followup.last_contact_date", "error"),
    ("maintenance_episodes.start_date@last", "followup.last_contact_date", "error"),
    ("transplants.infusion_date@last", "followup.last_contact_date", "error"),
    ("patients.induction_start_date", "followup.last_contact_date", "error"),
)

#: Values typical of a wrong unit: column -> (low, high, the unit they look like).
UNIT_HINTS: dict[str, tuple[float, float, str]] = {
    "albumin_g_L": (1.0, 6.0, "g/dL (multiply by 10 for g/L)"),
    "creatinine_umol_L": (0.2, 15.0, "mg/dL (multiply by 88.4 for µmol/L)"),
    "beta2m_mg_L": (60.0, 3500.0, "nmol/L (divide by 84.7 for mg/L)"),
    "hemoglobin_g_L": (5.0, 17.0, "g/dL (multiply by 10 for g/L)"),
    "calcium_mmol_L": (7.0, 16.0, "mg/dL (divide by 4.008 for mmol/L)"),
}


def contract_markdown() -> str:
    """The data contract as Markdown tables (the README's "Data contract" section is this).

    Returns
    -------
    str
        For every table of :data:`TABLES`, in order: a line with its name, description, key and
        references, then a Markdown table with one row per column (``_precision`` companions
        folded into their date column): type, whether it is required, and the allowed codes,
        the range with its unit, or else the unit or description.
    """
    lines = []
    for t in TABLES.values():
        refs = ", ".join(f"`{k}` → `{v}`" for k, v in t.foreign_keys.items())
        lines.append(f"**`{t.name}`** — {t.description}. Key: `{', '.join(t.key)}`"
                     + (f"; references: {refs}" if refs else "") + ".")
        lines += ["", "| column | type | required | allowed / range |", "|---|---|---|---|"]
        names = {c.name for c in t.columns}
        for c in t.columns:
            if c.name.endswith("_precision"):
                continue
            if c.allowed:
                allowed = ", ".join(f"`{a}`" for a in c.allowed)
            elif c.min is not None:
                allowed = f"{c.min:g}–{c.max:g} {c.unit}".strip()
            else:
                allowed = c.unit or c.description
            kind = c.dtype + (" (+`_precision`)" if f"{c.name}_precision" in names else "")
            lines.append(f"| `{c.name}` | {kind} | {'' if c.nullable else 'yes'} | {allowed} |")
        lines.append("")
    return "\n".join(lines)
