"""``synthetic-urban``: procedurally generated street scenes with exact Cityscapes-19 labels.

The project trains its shipped models on these scenes so that everything runs offline. Each scene
is drawn from ``(seed, split, index)`` alone: a perspective street with lanes and markings,
sidewalks and kerbs, buildings with window grids, walls, fences, vegetation and terrain, poles,
traffic lights and signs, cars, trucks, buses, trams, pedestrians and riders, under varied weather
and exposure. Labels are exact because the image and the label map are drawn from the same shapes.

- :func:`render_scene` — one (image, label) pair as numpy arrays, at any resolution;
- :class:`SyntheticUrban` — the ``torch`` dataset registered as ``"synthetic-urban"``;
- :func:`colorize_labels` — Cityscapes colours of a label map, for inspection.

Example
-------
>>> image, label = render_scene(seed=0, split="train", index=0, height=128, width=256)
>>> dataset = SyntheticUrban(split="val", num_images=4, size=(128, 256))
>>> x, y = dataset[0]          # (3, 128, 256) float32 in [0, 1], (128, 256) int64
"""

from __future__ import annotations

from gosvae.datasets.synthetic_urban.dataset import SyntheticUrban
from gosvae.datasets.synthetic_urban.labels import CITYSCAPES_COLORS, TrainId, colorize_labels
from gosvae.datasets.synthetic_urban.render import SPLIT_CODES, render_scene

__all__ = ["SyntheticUrban", "render_scene", "colorize_labels", "CITYSCAPES_COLORS", "TrainId", "SPLIT_CODES"]
