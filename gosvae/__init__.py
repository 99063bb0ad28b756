"""GOS-VAE: goal-oriented semantic image codec (source side of the simulator).

Subpackages: ``datasets`` (synthetic-urban, CamVid, Cityscapes, ADE20K), ``metrics``,
``teachers`` (frozen segmentation models), ``perceptual`` (LPIPS), ``models`` (VQ-VAE family),
``source_coding`` (slices, entropy coders, concealment, file container), ``zoo``.
"""

__version__ = "0.1.0"

#: The zoo teacher used wherever none is named (scenarios, ``gosvae eval``, codec configs):
#: ``urban-unet-xlf8k-cpu``, 4.3 M parameters with the flip test (see ``gosvae zoo -v``).
DEFAULT_TEACHER = "urban-unet-xlf8k-cpu"
