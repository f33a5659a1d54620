"""Sensitivity analyses: power-scaling, variant grids, stability metrics."""
