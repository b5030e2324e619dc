"""SHAP explanations of mmrisk models, per clinical feature.

- :func:`explain` -- SHAP values of a fitted pipeline's output (risk score, survival probability
  or cumulative hazard at a horizon): exact TreeSHAP for scikit-survival forests, survival trees
  and Cox-loss gradient boosting (:func:`shap_tree_model` exports them in the format
  ``shap.TreeExplainer`` accepts; :func:`tree_shap` runs mmrisk's float64 kernels on them),
  XGBoost's own exact TreeSHAP (``pred_contribs``) for the ``xgb_cox`` and ``xgb_aft`` models,
  exact linear SHAP for Cox-type models, shap's permutation or kernel explainer for anything
  else. Column values are summed back to clinical features through the pipeline's feature
  lineage (:func:`column_assignment`, :func:`aggregate_columns`). :func:`transform_for_explain`
  runs the feature pipeline once for a caller that predicts and explains the same rows
  (``explain(..., model_input=...)``).
- :func:`explanation_table`, :func:`global_importance`, :func:`reasons_table` and
  :func:`top_reasons` -- ``"del17p=detected (+0.41)"`` for scoring output.
"""

from mmrisk.explain._aggregate import aggregate_columns, column_assignment
from mmrisk.explain._base import Explanation, OutputSpec, parse_output
from mmrisk.explain._explain import explain
from mmrisk.explain._input import ModelInput, transform_for_explain
from mmrisk.explain._outputs import output_function
from mmrisk.explain._report import (
    explanation_table,
    format_value,
    global_importance,
    reasons_table,
    top_reasons,
)
from mmrisk.explain._trees import as_tree_input, shap_tree_model, tree_shap

__all__ = [
    "Explanation",
    "ModelInput",
    "OutputSpec",
    "aggregate_columns",
    "as_tree_input",
    "column_assignment",
    "explain",
    "explanation_table",
    "format_value",
    "global_importance",
    "output_function",
    "parse_output",
    "reasons_table",
    "shap_tree_model",
    "top_reasons",
    "transform_for_explain",
    "tree_shap",
]
