"""Rendering only: tables, outcomes, plots, the recommendation and the one set of formatters."""
