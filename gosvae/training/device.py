"""Where a training runs: ``run.device`` of a config (``cpu``, ``cuda`` or ``cuda:N``).

On a GPU the materialised training split is moved to the device once, so the crops of a batch are
cut there and only the indices cross the bus. The random crops are drawn from the same CPU
generator on every device, so a run is laid out identically (the arithmetic differs in the last
bits between devices, not the data order).

Example
-------
>>> resolve_device("cpu")
device(type='cpu')
"""

from __future__ import annotations

import re

import torch

from gosvae.errors import UserError

_DEVICE = re.compile(r"^(cpu|cuda(:\d+)?)$")


def resolve_device(name: str, *, option: str = "run.device") -> torch.device:
    """``torch.device`` for ``name``; a clear one-line error if it is malformed or absent here.

    Inputs: ``name`` (``cpu``, ``cuda`` or ``cuda:N``) and ``option``, the setting that gave it as
    the messages should name it (``run.device`` of a config, ``--device`` of ``simulate``).
    Output: the device. Raises :class:`UserError` (one line naming ``option``) for a malformed name,
    a torch build without CUDA (``torch.cuda.is_available()`` is False) or a missing GPU index.
    """
    if not _DEVICE.match(name):
        raise UserError(f"{option}: expected 'cpu', 'cuda' or 'cuda:N', got {name!r}")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UserError(f"{option}: '{name}' asked for, but this torch build sees no CUDA GPU "
                            "(torch.cuda.is_available() is False; use cpu)")
        index = device.index or 0
        if index >= torch.cuda.device_count():
            raise UserError(f"{option}: '{name}' asked for, but only {torch.cuda.device_count()} CUDA device(s) exist")
    return device
