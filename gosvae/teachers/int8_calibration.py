"""``gosvae calibrate-int8``: calibrate a zoo teacher's int8 copy and measure what it changes.

:func:`calibrate_zoo_teacher` takes a zoo ``urban-unet`` teacher, calibrates its int8 graph
(:func:`~gosvae.teachers.quantized.calibrate_int8`) on the first images of the split it was
trained on, then labels the first validation scenes with the float32 fast copy and with the int8
copy and records both mIoU, their difference and the pixels whose label changed. With
``write=True`` the calibration (activation scales, data, command, quality) is stored in the
entry's JSON as ``int8_calibration``; the weights file and its hash are not touched.

Example
-------
>>> report = calibrate_zoo_teacher("urban-unet-xlf8k-cpu", num_images=32, val_images=100)   # doctest: +SKIP
>>> report.calibration.quality["miou_change"]
-0.0004
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from gosvae.errors import UserError
from gosvae.teachers.inference import FastUrbanUNet, predict_labels
from gosvae.teachers.quantized import ZOO_FIELD, Int8Calibration, QuantizedUrbanUNet, calibrate_int8
from gosvae.teachers.urban_unet import UrbanUNet

__all__ = ["CalibrationReport", "calibrate_zoo_teacher", "compare_labels"]

#: Bounds of the command's counts (calibration and validation images).
MAX_IMAGES = 10_000


@dataclass
class CalibrationReport:
    """What :func:`calibrate_zoo_teacher` produced: the calibration (with ``quality`` filled in) and
    the entry file written (``None`` without ``write``)."""

    calibration: Int8Calibration
    written: Path | None = None


def compare_labels(float_teacher: torch.nn.Module, int8_teacher: torch.nn.Module, dataset: Any) -> dict[str, Any]:
    """Label every image of ``dataset`` ((image (3, H, W) float, label (H, W)) items) with both
    teachers: their mIoU against the labels, the difference and the pixels whose label changed."""
    from gosvae.datasets import IGNORE_INDEX
    from gosvae.metrics import confusion_matrix, mean_iou

    classes = float_teacher.num_classes
    confusion = {name: torch.zeros(classes, classes, dtype=torch.int64) for name in ("float32", "int8")}
    changed = pixels = 0
    for i in range(len(dataset)):
        image, label = dataset[i]
        labels = {"float32": predict_labels(float_teacher, image[None]), "int8": predict_labels(int8_teacher, image[None])}
        changed += int((labels["float32"] != labels["int8"]).sum())
        pixels += labels["float32"].numel()
        for name, predicted in labels.items():
            confusion[name] += confusion_matrix(predicted[0], label.long(), num_classes=classes, ignore_index=IGNORE_INDEX)
    miou = {name: mean_iou(matrix) for name, matrix in confusion.items()}
    return {"miou_float32": round(miou["float32"], 6), "miou_int8": round(miou["int8"], 6),
            "miou_change": round(miou["int8"] - miou["float32"], 6), "labels_changed": changed, "pixels": pixels}


def _training_data(entry: Any, *, root: str | None) -> dict[str, Any]:
    train = entry.data.get("train") if isinstance(entry.data, dict) else None
    if not isinstance(train, dict) or not isinstance(train.get("name"), str):
        raise UserError(f"zoo entry {entry.name}: data.train does not name the dataset it was trained on")
    size = train.get("size")
    if not (isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) and 16 <= v <= 4096 for v in size)):
        raise UserError(f"zoo entry {entry.name}: data.train.size: expected [H, W] within [16, 4096], got {str(size)[:40]}")
    if root is None and isinstance(train.get("root"), str):  # e.g. ${CAMVID_ROOT:-../shared/datasets/camvid}
        from gosvae.datasets.roots import expand_root

        root = expand_root(train["root"], field=f"zoo entry {entry.name}: data.train.root (or --root)")
    return {"name": train["name"], "root": root, "seed": int(train.get("seed") or 0), "size": size}


def calibrate_zoo_teacher(name: str, *, num_images: int = 32, val_images: int = 100, root: str | None = None,
                          write: bool = False, command: str = "") -> CalibrationReport:
    """Calibrate zoo teacher ``name`` on ``num_images`` training images, measure on ``val_images``
    validation scenes (see the module docstring); ``root``: the dataset folder of a real dataset."""
    from gosvae import zoo
    from gosvae.datasets import build_dataset
    from gosvae.teachers import load_teacher

    for option, value in (("--num-images", num_images), ("--val-images", val_images)):
        if not 1 <= value <= MAX_IMAGES:
            raise UserError(f"{option}: expected 1 to {MAX_IMAGES}, got {value}")
    entry = zoo.get_entry(name)
    teacher = load_teacher(name)
    if not isinstance(teacher, UrbanUNet):
        raise UserError(f"teacher '{name}' is a {entry.arch}; int8 calibration exists for urban-unet teachers only")
    data = _training_data(entry, root=root)
    size = tuple(data["size"])
    calibration_set = build_dataset(name=data["name"], split="train", root=data["root"], num_images=num_images, size=size, seed=data["seed"])
    record = {"dataset": f"{data['name']}/train", "num_images": len(calibration_set), "size": list(size), "seed": data["seed"],
              "first_images": True}
    calibration = calibrate_int8(teacher, (calibration_set[i][0][None] for i in range(len(calibration_set))),
                                 data=record, command=command)
    val = build_dataset(name=data["name"], split="val", root=data["root"], num_images=val_images, size=size, seed=data["seed"])
    quality = {"dataset": f"{data['name']}/val", "num_images": len(val), "size": list(size)}
    quality |= compare_labels(FastUrbanUNet(teacher), QuantizedUrbanUNet(teacher, calibration), val)
    calibration = replace(calibration, quality=quality)
    written = _write_into_entry(entry, calibration) if write else None
    return CalibrationReport(calibration, written)


def _write_into_entry(entry: Any, calibration: Int8Calibration) -> Path:
    """Store ``calibration`` as the ``int8_calibration`` field of ``entry``'s JSON (atomically)."""
    path = entry.directory / f"{entry.name}.json"
    meta = json.loads(path.read_text())
    meta[ZOO_FIELD] = calibration.to_json()
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(meta, indent=2) + "\n")
    os.replace(temporary, path)
    return path
