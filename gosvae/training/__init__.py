"""Training commands: ``gosvae train CONFIG.yaml`` for teachers and codecs.

Modules: ``config`` (pydantic schemas of the YAML files), ``data`` (rendered/decoded training data
kept in memory as uint8, batched random crops and flips), ``checkpoint`` (weights-only checkpoints,
resume, CSV logs), ``teacher`` (teacher training) and ``codec`` (VQ-VAE / GOS-VAE training).
"""
