"""Link simulation and experiments: the Sionna link (:mod:`simulation.link`), scenarios, sweeps.

Subpackages are imported on demand (``from simulation.link import Link``) so that importing
``simulation`` stays light.
"""
