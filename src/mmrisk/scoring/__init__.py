"""Score a cohort with a trained model: the prediction table, risk groups."""

from mmrisk.scoring._predict import RISK_GROUPS, learn_cutpoints, predict_table, risk_groups

__all__ = ["RISK_GROUPS", "learn_cutpoints", "predict_table", "risk_groups"]
