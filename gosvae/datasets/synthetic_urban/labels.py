"""Class ids of ``synthetic-urban`` (the Cityscapes 19 train ids) and their display colours.

Scene code names classes through :class:`TrainId` instead of bare integers; :func:`colorize_labels`
turns a label map into the usual Cityscapes colour picture for inspection.

Example
-------
>>> int(TrainId.CAR), CITYSCAPES_CLASSES[TrainId.CAR]
(13, 'car')
>>> colorize_labels(np.array([[0, 255]], dtype=np.uint8)).tolist()
[[[128, 64, 128], [0, 0, 0]]]
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np

from gosvae.datasets.base import CITYSCAPES_CLASSES, IGNORE_INDEX

__all__ = ["TrainId", "CITYSCAPES_COLORS", "colorize_labels"]


class TrainId(IntEnum):
    """Cityscapes train ids, in the order of :data:`gosvae.datasets.base.CITYSCAPES_CLASSES`."""

    ROAD = 0
    SIDEWALK = 1
    BUILDING = 2
    WALL = 3
    FENCE = 4
    POLE = 5
    TRAFFIC_LIGHT = 6
    TRAFFIC_SIGN = 7
    VEGETATION = 8
    TERRAIN = 9
    SKY = 10
    PERSON = 11
    RIDER = 12
    CAR = 13
    TRUCK = 14
    BUS = 15
    TRAIN = 16
    MOTORCYCLE = 17
    BICYCLE = 18


# The enum and the shared class list must never drift apart.
assert [m.name.lower().replace("_", " ") for m in TrainId] == list(CITYSCAPES_CLASSES)

CITYSCAPES_COLORS: np.ndarray = np.array(
    [
        (128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156), (190, 153, 153),
        (153, 153, 153), (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152),
        (70, 130, 180), (220, 20, 60), (255, 0, 0), (0, 0, 142), (0, 0, 70), (0, 60, 100),
        (0, 80, 100), (0, 0, 230), (119, 11, 32),
    ],
    dtype=np.uint8,
)
"""(19, 3) uint8 official Cityscapes display colour of each train id."""


def colorize_labels(labels: np.ndarray) -> np.ndarray:
    """Cityscapes display colours of a label map.

    Input: ``labels`` (..., H, W) integer train ids in [0, 19) or :data:`IGNORE_INDEX`.
    Output: (..., H, W, 3) uint8 RGB; ignored and unknown ids are black.
    """
    table = np.zeros((256, 3), dtype=np.uint8)
    table[: len(CITYSCAPES_COLORS)] = CITYSCAPES_COLORS
    table[IGNORE_INDEX] = 0
    return table[np.asarray(labels).astype(np.int64).clip(0, 255)]
