"""Posterior processing: relabelling, memberships, the posterior over K, effect tables."""
