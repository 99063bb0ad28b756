"""Checkpoints (weights-only), resume, and CSV logs of a training run.

A run folder holds ``checkpoint.pt`` (model, optimiser and scheduler states, step and RNG state —
only tensors and plain Python values, loaded with ``torch.load(weights_only=True)``), ``log.csv``
(one row per logged step, appended and flushed), ``config.yaml`` (the config as run) and
``final.json`` (evaluation at the end).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn


def save_checkpoint(
    path: Path,
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    step: int,
    generator: torch.Generator,
    extra: dict[str, Any] | None = None,
) -> None:
    """Atomically write a resumable checkpoint (write to a temp file, fsync, rename)."""
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else {},
        "step": step,
        "generator": generator.get_state(),
        "extra": extra or {},
    }
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as fh:
        torch.save(state, fh)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)


def load_checkpoint(
    path: Path,
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None,
    generator: torch.Generator | None = None,
) -> dict[str, Any]:
    """Restore what :func:`save_checkpoint` wrote; returns the raw state (``step``, ``extra``)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state["model"])
    if optimizer is not None:
        optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and state["scheduler"]:
        scheduler.load_state_dict(state["scheduler"])
    if generator is not None:
        generator.set_state(state["generator"])
    return state


class CsvLog:
    """Append rows to a CSV file, flushing each one so a killed run keeps its log."""

    def __init__(self, path: Path, *, fields: list[str]) -> None:
        self.path = path
        self.fields = fields
        new = not path.is_file() or path.stat().st_size == 0
        self._fh = open(path, "a", newline="")
        self._writer = csv.DictWriter(self._fh, fieldnames=fields, extrasaction="ignore")
        if new:
            self._writer.writeheader()
            self._fh.flush()

    def write(self, row: dict[str, Any]) -> None:
        self._writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()


def truncate_log(path: Path, *, after_step: int) -> None:
    """Drop log rows written after ``after_step`` (rows of a run killed after its last checkpoint)."""
    if not path.is_file():
        return
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        return
    header, body = rows[0], rows[1:]
    kept = [r for r in body if r and int(r[0]) <= after_step]
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(kept)


def lr_lambda(*, warmup_steps: int, total_steps: int, schedule: str):
    """Linear warm-up then cosine decay to 1% (or constant) as a ``LambdaLR`` factor."""
    import math

    def factor(step: int) -> float:
        if warmup_steps and step < warmup_steps:
            return (step + 1) / warmup_steps
        if schedule == "constant":
            return 1.0
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return 0.01 + 0.99 * 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor
