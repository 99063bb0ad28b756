"""Rate–quality curves of ``gosvae eval``: codecs at several operating points, BD figures, plots.

A curve is a set of evaluation rows of one codec at several rates. ``gosvae eval`` forms them from

- ``--codec 'jpeg:quality=5|10|20|40'``: alternatives of one parameter, separated by ``|``, give
  one row each; the curve is named by the spec with the alternatives as ``*``
  (``jpeg:quality=*``);
- ``--curve 'VQ-VAE=vq-vae-camvid-r4,vq-vae-camvid-r8'``: vqvae models (zoo names or folders),
  one row each, on the curve ``VQ-VAE``.

:func:`bd_table` gives, for every curve against a reference curve, BD-rate (at equal mIoU and at
equal PSNR) and BD-mIoU / BD-PSNR (at equal rate), optionally over a bpp range only (e.g. below
0.15 bpp, where the semantic-coding papers claim their gain). :func:`plot_rate_curves` draws
rate–mIoU and rate–PSNR.

Example
-------
>>> expand_codec_spec("jpeg:quality=5|10,subsampling=4:2:0")
('jpeg:quality=*,subsampling=4:2:0', ['jpeg:quality=5,subsampling=4:2:0', 'jpeg:quality=10,subsampling=4:2:0'])
>>> parse_curve("VQ-VAE=vq-vae-r4,vq-vae-r8")
('VQ-VAE', ['vq-vae-r4', 'vq-vae-r8'])
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

from gosvae.errors import UserError
from gosvae.metrics.bjontegaard import bd_quality, bd_rate

__all__ = ["bd_table", "expand_codec_spec", "group_curves", "parse_curve", "plot_rate_curves", "bd_markdown"]

_MAX_POINTS = 64  # operating points per curve: bounded before any work


def expand_codec_spec(spec: str) -> tuple[str, list[str]]:
    """``NAME:K=a|b|c,...`` → (curve name, one spec per alternative); at most one key may vary.

    A spec without ``|`` is a curve of one point, named by the spec itself.
    """
    name, sep, rest = spec.partition(":")
    items = [item for item in rest.split(",") if item.strip()] if sep else []
    varying = [i for i, item in enumerate(items) if "|" in item]
    if not varying:
        return spec, [spec]
    if len(varying) > 1:
        raise UserError(f"codec spec {spec!r}: only one parameter may list alternatives (a|b|c)")
    index = varying[0]
    key, eq, values = items[index].partition("=")
    alternatives = [v.strip() for v in values.split("|")]
    if not eq or not all(alternatives):
        raise UserError(f"codec spec {spec!r}: expected KEY=a|b|c, got {items[index]!r}")
    if len(alternatives) > _MAX_POINTS:
        raise UserError(f"codec spec {spec!r}: {len(alternatives)} operating points, at most {_MAX_POINTS}")

    def with_value(value: str) -> str:
        parts = list(items)
        parts[index] = f"{key}={value}"
        return f"{name}:" + ",".join(parts)

    return with_value("*"), [with_value(v) for v in alternatives]


def parse_curve(text: str) -> tuple[str, list[str]]:
    """``LABEL=MODEL,MODEL,...`` → (label, models); one-line :class:`UserError` if malformed."""
    label, sep, models = text.partition("=")
    names = [m.strip() for m in models.split(",") if m.strip()]
    if not sep or not label.strip() or not names:
        raise UserError(f"--curve {text!r}: expected LABEL=MODEL,MODEL,... (vqvae zoo names or model folders)")
    if len(names) > _MAX_POINTS:
        raise UserError(f"--curve {text!r}: {len(names)} operating points, at most {_MAX_POINTS}")
    return label.strip(), names


def group_curves(rows: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Rows with a ``curve`` key, grouped by it (insertion order), each curve sorted by bpp."""
    curves: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if row.get("curve"):
            curves.setdefault(row["curve"], []).append(row)
    return {name: sorted(points, key=lambda r: r["bpp"]) for name, points in curves.items()}


def _delta(function, a: list[dict], b: list[dict], *, quality: str, method: str, **bounds) -> float:
    """One BD figure, NaN where the curves do not allow it (too few points, no overlap)."""
    try:
        return function(
            [r["bpp"] for r in a], [r[quality] for r in a], [r["bpp"] for r in b], [r[quality] for r in b],
            method=method, **bounds,
        )
    except UserError:
        return math.nan


def bd_table(
    curves: dict[str, list[dict[str, Any]]],
    *,
    reference: str,
    method: str = "pchip",
    max_bpp: float | None = None,
) -> list[dict[str, Any]]:
    """BD figures of every curve against ``reference`` (rates in bpp).

    Output: one dict per other curve: ``curve``, ``points``, ``bd_rate_miou`` / ``bd_rate_psnr``
    (percent rate change at equal mIoU / PSNR; negative = fewer bits than the reference),
    ``bd_miou`` / ``bd_psnr`` (average gain at equal rate, over rates ≤ ``max_bpp`` when given).
    NaN where a figure cannot be computed (fewer points than the method needs, curves that do not
    overlap in the range). Raises :class:`UserError` if ``reference`` is not a curve.
    """
    if reference not in curves:
        raise UserError(f"--bd-reference {reference!r} is not one of the curves ({', '.join(curves) or 'none'})")
    ref = curves[reference]
    rate_range = (None, max_bpp) if max_bpp is not None else None
    table = []
    for name, points in curves.items():
        if name == reference:
            continue
        table.append({
            "curve": name,
            "points": len(points),
            "bd_rate_miou": _delta(bd_rate, ref, points, quality="miou_gt", method=method),
            "bd_rate_psnr": _delta(bd_rate, ref, points, quality="psnr_db", method=method),
            "bd_miou": _delta(bd_quality, ref, points, quality="miou_gt", method=method, rate_range=rate_range),
            "bd_psnr": _delta(bd_quality, ref, points, quality="psnr_db", method=method, rate_range=rate_range),
        })
    return table


def bd_markdown(table: Sequence[dict[str, Any]], *, reference: str, method: str, max_bpp: float | None) -> str:
    """The BD table as GitHub markdown (NaN shown as "n/a")."""

    def cell(value: float, fmt: str) -> str:
        return "n/a" if value is None or math.isnan(value) else fmt.format(value)

    span = f"rates ≤ {max_bpp} bpp" if max_bpp is not None else "the overlapping rates"
    lines = [
        f"BD figures against `{reference}` ({method}; BD-mIoU / BD-PSNR over {span}; BD-rate over the overlapping quality):",
        "",
        "| curve | points | BD-mIoU | BD-PSNR (dB) | BD-rate @ mIoU (%) | BD-rate @ PSNR (%) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in table:
        lines.append(
            f"| {row['curve']} | {row['points']} | {cell(row['bd_miou'], '{:+.4f}')} | {cell(row['bd_psnr'], '{:+.2f}')} | "
            f"{cell(row['bd_rate_miou'], '{:+.1f}')} | {cell(row['bd_rate_psnr'], '{:+.1f}')} |"
        )
    return "\n".join(lines)


def plot_rate_curves(curves: dict[str, list[dict[str, Any]]], out_dir: Path, *, title: str = "") -> list[Path]:
    """``rate_miou.png`` and ``rate_psnr.png`` (bpp on a log axis) in ``out_dir``; returns the paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for key, ylabel, name in (("miou_gt", "mIoU (ground truth)", "rate_miou.png"), ("psnr_db", "PSNR (dB)", "rate_psnr.png")):
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        for curve, points in curves.items():
            ax.plot([p["bpp"] for p in points], [p[key] for p in points], marker="o", label=curve)
        ax.set_xscale("log")
        ax.set_xlabel("bits per pixel")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
        if title:
            ax.set_title(title, fontsize=9)
        fig.tight_layout()
        fig.savefig(out_dir / name, dpi=120)
        plt.close(fig)
        paths.append(out_dir / name)
    return paths
