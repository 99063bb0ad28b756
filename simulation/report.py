"""Text output of ``simulate``: the list of channel models and the summary table of a run.

Example
-------
>>> print(channel_listing())                    # doctest: +SKIP
awgn (built-in): additive white Gaussian noise, no fading (h = 1)
    parameters: none
>>> print(summary_table(rows, swept_paths=["snr_db"]))   # doctest: +SKIP
"""

from __future__ import annotations

import math
import types
import typing
from typing import Any, Sequence

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from simulation.sweep import format_value

__all__ = ["channel_listing", "describe_params", "summary_table"]

_BOUNDS = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}


def _type_text(annotation: Any) -> str:
    if annotation is Ellipsis:
        return "..."
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " | ".join("None" if a is type(None) else _type_text(a) for a in args)
    if origin is not None:
        inner = ", ".join(_type_text(a) for a in args)
        return f"{getattr(origin, '__name__', str(origin))}[{inner}]"
    return getattr(annotation, "__name__", str(annotation))


def describe_params(params: type[BaseModel]) -> list[str]:
    """One line per parameter: ``name: type = default (bounds) -- description``."""
    lines = []
    for name, field in params.model_fields.items():
        if field.default is not PydanticUndefined:
            default = f" = {field.default!r}"
        elif field.default_factory is not None:
            default = f" = {field.default_factory()!r}"
        else:
            default = " (required)"
        bounds = [f"{_BOUNDS[attr]} {getattr(m, attr)}" for m in field.metadata for attr in _BOUNDS if hasattr(m, attr)]
        bound_text = f" ({', '.join(bounds)})" if bounds else ""
        description = f" -- {field.description}" if field.description else ""
        lines.append(f"{name}: {_type_text(field.annotation)}{default}{bound_text}{description}")
    return lines


def channel_listing() -> str:
    """Every registered channel model (built-in and plugins): name, origin, description, parameters."""
    import channels  # noqa: F401 - registers the built-in models
    from channels.registry import CHANNELS

    out = ["Channel models (scenario: channel.model; parameters under channel.params):", ""]
    for entry in CHANNELS.entries():
        out.append(f"{entry.name} ({entry.origin}): {entry.description}")
        params = getattr(entry.obj, "Params", None)
        if entry.obj is None:
            continue
        lines = describe_params(params) if isinstance(params, type) and issubclass(params, BaseModel) else []
        out += [f"    {line}" for line in lines] or ["    parameters: none"]
    return "\n".join(out)


def _cell(value: Any, kind: str = "") -> str:
    if isinstance(value, float):
        if not math.isfinite(value):
            return "-" if math.isnan(value) else str(value)
        if kind == "rate":
            return f"{value:.2e}" if value else "0"
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"
    return str(value)


def summary_table(rows: Sequence[dict[str, Any]], *, swept_paths: Sequence[str]) -> str:
    """Plain aligned table of result rows: codec, swept fields, payload, losses, mIoU, PSNR."""
    others = [p for p in swept_paths if p != "snr_db"]
    header = ["codec", *others, "snr_db", "payload kB", "raw BER", "BER", "pkt loss", "pkt err", "mIoU", "95% CI", "clean mIoU", "PSNR dB"]
    table = [header]
    for r in sorted(rows, key=lambda r: r["point"]):
        ci = f"[{_cell(r['miou_gt_ci_low'])}, {_cell(r['miou_gt_ci_high'])}]"
        table.append([
            str(r["codec"]), *(format_value(r[p]) for p in others), format_value(r["snr_db"]), f"{r['payload_bytes'] / 1e3:.2f}",
            _cell(r["raw_ber"], "rate"), _cell(r["ber"], "rate"), _cell(r["packet_loss_rate"], "rate"),
            _cell(r["packet_error_rate"], "rate"),
            _cell(r["miou_gt"]), ci, _cell(r["miou_gt_clean"]), _cell(r["psnr_db"]),
        ])
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths))) for row in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
