"""Filling the index-map rows whose slice was lost or damaged.

Two strategies, chosen by name:

- ``"most-probable"``: every concealed index becomes ``argmax(prior)``, the most probable
  codebook word (the decoder's "average" patch);
- ``"copy-above"``: a concealed row copies the nearest *received* row above it (image content is
  vertically correlated); rows with no received row above fall back to ``"most-probable"``.

Example
-------
>>> indices = np.array([[1, 2], [0, 0], [3, 3]])
>>> conceal_rows(indices, received_rows=np.array([True, False, True]),
...              prior=np.array([0.1, 0.6, 0.2, 0.1]), mode="copy-above").tolist()
[[1, 2], [1, 2], [3, 3]]
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from gosvae.errors import UserError

ConcealmentMode = Literal["most-probable", "copy-above"]
CONCEALMENT_MODES: tuple[str, ...] = ("most-probable", "copy-above")


def check_concealment_mode(mode: str) -> str:
    """Return ``mode`` if it names a strategy, else raise :class:`UserError` listing them."""
    if mode not in CONCEALMENT_MODES:
        raise UserError(f"concealment: unknown mode '{mode}' (known: {', '.join(CONCEALMENT_MODES)})")
    return mode


def conceal_rows(
    indices: np.ndarray, *, received_rows: np.ndarray, prior: np.ndarray, mode: ConcealmentMode
) -> np.ndarray:
    """Replace the rows not received.

    Parameters
    ----------
    indices : np.ndarray, (H', W'), int
        Index map; rows where ``received_rows`` is ``False`` hold anything.
    received_rows : np.ndarray, (H',), bool
        ``True`` for rows decoded from a valid slice.
    prior : np.ndarray, (K,), float
        Index prior; its argmax is the fill value.
    mode : "most-probable" | "copy-above"
        Strategy (see the module docstring).

    Returns
    -------
    np.ndarray, (H', W'), int64
        A new array; received rows are unchanged.
    """
    check_concealment_mode(mode)
    out = np.array(indices, dtype=np.int64, copy=True)
    received = np.asarray(received_rows, dtype=bool)
    most_probable = int(np.argmax(prior))
    if mode == "most-probable":
        out[~received] = most_probable
        return out
    last_received: int | None = None
    for row in range(out.shape[0]):
        if received[row]:
            last_received = row
        elif last_received is None:
            out[row] = most_probable
        else:
            out[row] = out[last_received]
    return out
