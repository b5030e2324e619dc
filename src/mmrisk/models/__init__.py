"""Estimator catalogue: every model is one scikit-learn object (feature pipeline + survival model)."""

from mmrisk.models._predict import predict_survival_at

__all__ = ["predict_survival_at"]
