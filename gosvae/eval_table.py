"""The clean-channel comparison table of codecs (the shape of the paper's Table I).

:func:`evaluate_codecs` runs :func:`gosvae.evaluation.evaluate_codec` for each codec spec
(``NAME[:KEY=VALUE,...]``, any registered codec) on one dataset split (:func:`evaluate_models`:
``vqvae`` zoo models by name), plus a reference row of the teacher on the original images; :func:`markdown_table`
and :func:`compressai_json` format the rows. ``gosvae eval`` writes both files.

Columns: payload KB (mean per image, slice headers included), bpp, parameters (M), mIoU vs the
ground truth, pixel accuracy, mIoU vs the teacher's output on the original, MSE, PSNR (dB) and
LPIPS when its weights are available.

Example
-------
>>> rows = evaluate_models(["vq-vae-r4", "gos-vae-star-r4"], teacher="urban-unet",
...                        data=val_data)                                  # doctest: +SKIP
>>> print(markdown_table(rows))                                            # doctest: +SKIP
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from torch import nn

from gosvae.codecs import build_codec, parse_codec_spec
from gosvae.evaluation import evaluate_codec, evaluate_teacher_on_clean
from gosvae.labels import label_space_of, scoring_teacher
from gosvae.rate_curves import expand_codec_spec, parse_curve
from gosvae.teachers import load_teacher
from gosvae.training.data import MaterializedData

__all__ = ["COLUMNS", "compressai_json", "evaluate_codecs", "evaluate_models", "markdown_table"]

#: (key, header, format) of the table columns, in order
COLUMNS: list[tuple[str, str, str]] = [
    ("payload_kb", "Payload (KB)", "{:.2f}"),
    ("bpp", "bpp", "{:.3f}"),
    ("parameters_m", "Params (M)", "{:.3f}"),
    ("miou_gt", "mIoU (GT)", "{:.4f}"),
    ("miou_gt_ci", "± (95 %)", "{:.3f}"),
    ("pixel_accuracy", "Pixel acc.", "{:.4f}"),
    ("miou_teacher", "mIoU (teacher)", "{:.4f}"),
    ("mse", "MSE", "{:.5f}"),
    ("psnr_db", "PSNR (dB)", "{:.2f}"),
    ("lpips", "LPIPS", "{:.4f}"),
]


def evaluate_models(
    models: Sequence[str],
    *,
    teacher: str,
    data: MaterializedData,
    coder: str = "range",
    rows_per_slice: int = 4,
    lpips: nn.Module | None = None,
    batch_size: int = 8,
    codecs: Sequence[str] = (),
    curves: Sequence[str] = (),
    dataset_classes: Sequence[str] | None = None,
    label_mapping: str | None = None,
) -> list[dict[str, Any]]:
    """One row per ``vqvae`` model in ``models`` (zoo names or model folders, coded with ``coder``),
    per operating point of each codec spec in ``codecs`` (``jpeg:quality=5|10|20`` gives three,
    see :func:`gosvae.rate_curves.expand_codec_spec`) and per model of each ``LABEL=MODEL,...`` in
    ``curves``, after a teacher row; rows of a curve carry its name in ``curve``. Scores are in the
    label space of ``dataset_classes`` (see :func:`evaluate_codecs`)."""
    vqvae = {"coder": coder, "rows_per_slice": rows_per_slice}
    specs = [(name, "vqvae", {"model": name, **vqvae}, None) for name in models]
    for codec_spec in codecs:
        curve, points = expand_codec_spec(codec_spec)
        specs += [(point, *parse_codec_spec(point), curve if len(points) > 1 else None) for point in points]
    for text in curves:
        label, names = parse_curve(text)
        specs += [(name, "vqvae", {"model": name, **vqvae}, label) for name in names]
    return evaluate_codecs(specs, teacher=teacher, data=data, lpips=lpips, batch_size=batch_size,
                           dataset_classes=dataset_classes, label_mapping=label_mapping)


def evaluate_codecs(
    specs: Sequence[tuple[str, str, dict[str, Any]] | tuple[str, str, dict[str, Any], str | None]],
    *,
    teacher: str,
    data: MaterializedData,
    lpips: nn.Module | None = None,
    batch_size: int = 8,
    dataset_classes: Sequence[str] | None = None,
    label_mapping: str | None = None,
) -> list[dict[str, Any]]:
    """One row per ``(label, codec name, params[, curve])`` in ``specs``, after a teacher row.

    With ``dataset_classes`` the teacher is scored in that label space: through the identity, the
    mapping shipped for its space and the dataset's, or ``label_mapping`` (a file or shipped name);
    spaces that differ without a mapping → one-line :class:`~gosvae.errors.UserError` before any
    codec runs. Every row then carries ``label_space``.

    Output: list of flat dicts with the keys of :data:`COLUMNS` (``lpips`` only with ``lpips``),
    ``codec`` (the label), ``num_images``, and for codecs ``scheme``, ``ratio`` (when the codec
    describes one) and ``describe``. Every codec is built (and its parameters checked) before any
    is evaluated.
    """
    specs = [(*spec, None) if len(spec) == 3 else spec for spec in specs]
    codecs = [(label, build_codec(name, params, where=f"codec {label!r}"), curve) for label, name, params, curve in specs]
    teacher_model = load_teacher(teacher)
    space = ""
    if dataset_classes is not None:
        teacher_model, mapping = scoring_teacher(
            teacher_model, dataset_space=label_space_of(dataset_classes), mapping=label_mapping
        )
        space = mapping.target.name if mapping.name == "identity" else f"{mapping.target.name} ({mapping.describe()})"
    reference = evaluate_teacher_on_clean(teacher_model, data=data, batch_size=batch_size)
    rows: list[dict[str, Any]] = [
        {"codec": f"original (teacher {teacher})", "num_images": len(data), "miou_gt": reference["miou_gt"],
         "pixel_accuracy": reference["pixel_accuracy"], "miou_teacher": 1.0, "mse": 0.0, "label_space": space}
    ]
    reference_labels = [teacher_model.predict(images) for images, _ in data.batches(batch_size=batch_size)]
    for label, codec, curve in codecs:
        row = evaluate_codec(codec, teacher=teacher_model, data=data, lpips=lpips, batch_size=batch_size, label=label,
                             reference_labels=reference_labels)
        if "ratio" in row["describe"]:
            row["ratio"] = row["describe"]["ratio"]
        row["curve"] = curve
        row["label_space"] = space
        rows.append(row)
    return rows


def markdown_table(rows: Sequence[dict[str, Any]]) -> str:
    """A GitHub-markdown table of ``rows``; empty cells for missing values. Output: str."""
    columns = [c for c in COLUMNS if any(c[0] in row for row in rows)]
    lines = ["| Model | " + " | ".join(header for _, header, _ in columns) + " |",
             "|---|" + "---:|" * len(columns)]
    for row in rows:
        cells = [fmt.format(row[key]) if _present(row.get(key)) else "" for key, _, fmt in columns]
        lines.append(f"| {row['codec']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _present(value: Any) -> bool:
    """A value to print: not missing and not NaN (e.g. the parameter count of a byte codec)."""
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def compressai_json(rows: Sequence[dict[str, Any]], *, name: str, description: str) -> dict[str, Any]:
    """CompressAI-style results: ``name``, ``description``, ``results`` of parallel lists per metric."""
    keys = ["codec", *(k for k, _, _ in COLUMNS if any(k in row for row in rows)), "num_images"]
    return {"name": name, "description": description, "results": {k: [row.get(k) for row in rows] for k in keys}}
