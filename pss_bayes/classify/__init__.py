"""Uncertainty-aware subgroup classifier trained from a fitted mixture."""

from pss_bayes.classify.model import INDETERMINATE, SubgroupClassifier

__all__ = ["INDETERMINATE", "SubgroupClassifier"]
