"""The dataset contract shared by the synthetic and the real segmentation datasets.

Every dataset is a ``torch.utils.data.Dataset`` whose item ``i`` is a pair

- ``image``: (3, H, W) float32 in [0, 1], RGB;
- ``label``: (H, W) int64 class ids in ``[0, num_classes)``, or :data:`IGNORE_INDEX` (255).

and which exposes ``num_classes``, ``class_names`` and ``ignore_index``. Common options of the
constructors: ``split``, ``size`` (resize to (H, W)), ``crop`` (random crop (H, W) for training),
``hflip`` (random horizontal flips). Randomness of augmentation comes from a generator seeded by
``seed`` and the item index, so an item is the same whenever it is read.
"""

from __future__ import annotations

IGNORE_INDEX: int = 255
"""Label value excluded from losses and metrics in every dataset of the project."""

CITYSCAPES_CLASSES: tuple[str, ...] = (
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
    "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train",
    "motorcycle", "bicycle",
)
"""The 19 Cityscapes train-id classes (ids 0..18), also used by ``synthetic-urban``."""
