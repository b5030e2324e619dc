"""Clinical feature engineering: scikit-learn transformers, lineage, and the pipeline builder.

Transformers (each derives columns from named input columns and appends them, or replaces its
inputs with ``keep_input=False``):

- :class:`ISS`, :class:`RISS`, :class:`R2ISS` -- myeloma staging;
- :class:`HighRiskCACount` -- high-risk cytogenetic abnormalities, "not tested" kept apart;
- :class:`EGFR_CKDEPI2021` -- eGFR by the 2021 CKD-EPI creatinine equation;
- :class:`ResponseDepth` -- IMWG response as an ordinal number;
- :class:`SelectColumns` and :func:`make_encoder` -- selection, imputation, one-hot, scaling.

:func:`build_pipeline` turns a ``pipelines/*.yaml`` definition into one scikit-learn
``Pipeline``; :func:`lineage` maps each output column of a fitted pipeline back to the input
columns it comes from.
"""

from mmrisk.features._builder import (
    PIPELINES_DIR,
    available_pipelines,
    available_transformers,
    build_pipeline,
)
from mmrisk.features._cytogenetics import HighRiskCACount
from mmrisk.features._encoding import MISSING_CATEGORY, SelectColumns, make_encoder
from mmrisk.features._lineage import get_feature_lineage, lineage
from mmrisk.features._renal import EGFR_CKDEPI2021, egfr_ckd_epi_2021
from mmrisk.features._response import IMWG_RESPONSE_ORDER, ResponseDepth
from mmrisk.features._staging import ISS, R2ISS, RISS, r2iss_group

__all__ = [
    "EGFR_CKDEPI2021",
    "HighRiskCACount",
    "IMWG_RESPONSE_ORDER",
    "ISS",
    "MISSING_CATEGORY",
    "PIPELINES_DIR",
    "R2ISS",
    "RISS",
    "ResponseDepth",
    "SelectColumns",
    "available_pipelines",
    "available_transformers",
    "build_pipeline",
    "egfr_ckd_epi_2021",
    "get_feature_lineage",
    "lineage",
    "make_encoder",
    "r2iss_group",
]
