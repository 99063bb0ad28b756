"""Clean-channel evaluation of codecs: the rows of the paper's Table I.

For every image: encode → packets (payload) → decode → x̂; the teacher segments x̂ and x. Reported
per codec: payload (mean KB per image, bits per pixel), parameters, mIoU vs the ground truth,
pixel accuracy, mIoU vs the teacher's output on the original, MSE, PSNR, and LPIPS when an LPIPS
module is given. mIoU values use one confusion matrix over the whole split (Cityscapes style).

Example
-------
>>> row = evaluate_codec(build_codec("vqvae", model="vq-vae-r4"), teacher=load_teacher("urban-unet"),
...                      data=val_data, label="vq-vae-r4")                 # doctest: +SKIP
>>> row["miou_gt"], row["payload_kb"]
"""

from __future__ import annotations

import math

from typing import Any, Sequence

import torch
from torch import nn

from gosvae.codecs import Codec
from gosvae.datasets import IGNORE_INDEX
from gosvae.metrics import SegmentationMeter, mean_confidence_interval, mse, psnr
from gosvae.metrics.segmentation import segmentation_scores
from gosvae.teachers import Teacher
from gosvae.training.data import MaterializedData


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@torch.no_grad()
def evaluate_codec(
    codec: Codec,
    *,
    teacher: Teacher,
    data: MaterializedData,
    batch_size: int = 8,
    lpips: nn.Module | None = None,
    label: str | None = None,
    reference_labels: Sequence[torch.Tensor] | None = None,
) -> dict[str, Any]:
    """Table-I metrics of ``codec`` on ``data`` (see module docstring); a flat dict of numbers.

    ``label`` names the row (default: the codec's default label); ``scheme`` and ``describe``
    (the codec's :meth:`~gosvae.codecs.base.Codec.describe`) say what it is, ``decode_failures``
    counts images the codec could not decode. ``reference_labels`` (optional): the teacher's labels
    of the originals, one (b, H, W) tensor per batch of ``data.batches(batch_size=batch_size)``,
    computed once when several codecs are evaluated on the same data.
    """
    num_classes = teacher.num_classes
    vs_gt = SegmentationMeter(num_classes=num_classes, ignore_index=IGNORE_INDEX)
    vs_teacher = SegmentationMeter(num_classes=num_classes, ignore_index=IGNORE_INDEX)
    payload_bytes: list[int] = []
    mses: list[torch.Tensor] = []
    psnrs: list[torch.Tensor] = []
    lpips_values: list[torch.Tensor] = []
    failures = 0
    height = width = 0
    for batch_index, (images, labels) in enumerate(data.batches(batch_size=batch_size)):
        height, width = images.shape[-2:]
        streams = codec.encode(images)
        payload_bytes += [s.num_bytes for s in streams]
        decoded = codec.decode([s.packets for s in streams], image_size=(height, width))
        failures += sum(bool(f) for f in decoded.failed)
        x_hat = decoded.images
        predicted = teacher.predict(x_hat)
        vs_gt.update(predicted, labels)
        reference = reference_labels[batch_index] if reference_labels is not None else teacher.predict(images)
        vs_teacher.update(predicted, reference)
        mses.append(mse(x_hat, images))
        psnrs.append(psnr(x_hat, images))
        if lpips is not None:
            lpips_values.append(lpips(x_hat, images))
    mean_bytes = sum(payload_bytes) / len(payload_bytes)
    description = codec.describe()
    parameters = codec.num_parameters()
    row: dict[str, Any] = {
        "codec": label if label is not None else codec.default_label(codec.params),
        "scheme": description.get("scheme", ""),
        "num_images": len(payload_bytes),
        "payload_kb": mean_bytes / 1000.0,
        "bpp": mean_bytes * 8.0 / (height * width),
        "parameters_m": parameters / 1e6 if parameters is not None else float("nan"),
        "miou_gt": float(vs_gt.mean_iou()),
        "miou_gt_ci": _interval_half_width(vs_gt.per_image_miou),
        "pixel_accuracy": float(vs_gt.pixel_accuracy()),
        "miou_teacher": float(vs_teacher.mean_iou()),
        "mse": float(torch.cat(mses).mean()),
        "psnr_db": float(torch.cat(psnrs).mean()),
        "decode_failures": failures,
        "describe": description,
    }
    if lpips_values:
        row["lpips"] = float(torch.cat(lpips_values).mean())
    return row


@torch.no_grad()
def evaluate_teacher_on_clean(
    teacher: Teacher,
    *,
    data: MaterializedData,
    batch_size: int = 8,
    device: torch.device | str | None = None,
    per_class: bool = False,
) -> dict[str, Any]:
    """The teacher on the original images: the upper bound of every codec row.

    Scores from :func:`gosvae.metrics.segmentation.segmentation_scores`: ``miou_gt`` and
    ``pixel_accuracy``, and with ``per_class`` ``per_class_iou`` (class name → IoU). With
    ``device`` the images are moved there first (the teacher's device).
    """
    batches = (
        (teacher.predict(images if device is None else images.to(device)), labels)
        for images, labels in data.batches(batch_size=batch_size)
    )
    return segmentation_scores(batches, num_classes=teacher.num_classes, ignore_index=IGNORE_INDEX,
                               class_names=teacher.class_names if per_class else None)


def _interval_half_width(per_image_miou: Sequence[float]) -> float:
    """Half-width of the 95 % Student-t interval of the per-image mIoU values (NaN below 2 images)."""
    values = [v for v in per_image_miou if not math.isnan(v)]
    if len(values) < 2:
        return math.nan
    return float(mean_confidence_interval(values)[1])
