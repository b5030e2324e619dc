"""Figures shared by the CLI and the tracked runs."""

from mmrisk.report._km import km_figure, km_median

__all__ = ["km_figure", "km_median"]
