"""Uncertainty-aware subgroup classifier trained from a fitted mixture."""
