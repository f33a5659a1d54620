"""Cohort data: the immutable Cohort, reading and validation, scaling, simulation."""
