"""Model specifications and the PyMC model of the control-referenced mixture."""
