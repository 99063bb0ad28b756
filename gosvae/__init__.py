"""GOS-VAE: goal-oriented semantic image codec (source side of the simulator).

Subpackages: ``datasets`` (synthetic-urban, CamVid, Cityscapes, ADE20K), ``metrics``,
``teachers`` (frozen segmentation models), ``perceptual`` (LPIPS), ``models`` (VQ-VAE family),
``source_coding`` (slices, entropy coders, concealment, file container), ``zoo``.
"""

__version__ = "0.1.0"
