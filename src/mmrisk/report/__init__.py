"""Figures shared by the CLI and the tracked runs."""

from mmrisk.report._km import hr_forest_figure, km_figure, km_median

__all__ = ["hr_forest_figure", "km_figure", "km_median"]
