"""SHAP explanations of mmrisk models, per clinical feature.

- :func:`explain` -- SHAP values of a fitted pipeline's output (risk score, survival probability
  or cumulative hazard at a horizon): exact TreeSHAP for scikit-survival forests, survival trees
  and Cox-loss gradient boosting (:func:`shap_tree_model` converts them for
  ``shap.TreeExplainer``), exact linear SHAP for Cox-type models, shap's permutation or kernel
  explainer for anything else. Column values are summed back to clinical features through the
  pipeline's feature lineage (:func:`column_assignment`).
- :func:`write_explanation` -- per-patient table, global importance, reasons and figures in a
  folder; :func:`top_reasons` -- "del17p=detected (+0.41)" for scoring output.
"""

from mmrisk.explain._aggregate import (
    aggregate_columns,
    column_assignment,
    derived_name,
    display_values,
)
from mmrisk.explain._agnostic import agnostic_shap, summarise_background
from mmrisk.explain._base import (
    ExplainProgress,
    Explanation,
    OutputSpec,
    parse_output,
    split_model,
)
from mmrisk.explain._explain import explain
from mmrisk.explain._linear import linear_coefficients, linear_shap
from mmrisk.explain._outputs import output_function
from mmrisk.explain._plots import (
    format_value,
    plot_bar,
    plot_beeswarm,
    plot_dependence,
    plot_waterfall,
)
from mmrisk.explain._report import (
    explanation_table,
    global_importance,
    reasons_table,
    top_reasons,
    write_explanation,
)
from mmrisk.explain._trees import as_tree_input, shap_tree_model, tree_kind, tree_shap

__all__ = [
    "ExplainProgress",
    "Explanation",
    "OutputSpec",
    "aggregate_columns",
    "agnostic_shap",
    "as_tree_input",
    "column_assignment",
    "derived_name",
    "display_values",
    "explain",
    "explanation_table",
    "format_value",
    "global_importance",
    "linear_coefficients",
    "linear_shap",
    "output_function",
    "parse_output",
    "plot_bar",
    "plot_beeswarm",
    "plot_dependence",
    "plot_waterfall",
    "reasons_table",
    "shap_tree_model",
    "split_model",
    "summarise_background",
    "top_reasons",
    "tree_kind",
    "tree_shap",
    "write_explanation",
]
