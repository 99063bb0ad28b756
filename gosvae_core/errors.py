"""Errors raised for user mistakes (shared by ``gosvae``, ``channels`` and ``simulation``).

Command-line entry points catch :class:`UserError` and print its message as one line on stderr
with exit code 2, never a traceback. Library code raises it (or a subclass) whenever the cause is
something the user gave: a missing file, a malformed folder, a bad option value. The message
names the problem precisely (file, field, expected value, what was found).

Example
-------
>>> raise DatasetLayoutError("/data/camvid: missing folder 'trainannot' (expected the SegNet layout)")
"""

from __future__ import annotations


class UserError(ValueError):
    """A mistake in what the user gave; its message is printed as a one-line error."""


class DatasetLayoutError(UserError):
    """A dataset root is missing or does not look like the expected layout."""


class MissingWeightsError(UserError):
    """Pretrained weights that a feature needs are not present at the given path."""


class ConfigError(UserError):
    """A configuration or scenario file is invalid (message names the file and the field path)."""



def bounded_repr(value: object, limit: int = 60) -> str:
    """``repr(value)`` on one line, cut to ``limit`` characters, in time bounded by ``limit``.

    Output: the same text as ``repr(value)`` when that fits in ``limit`` characters, else its first
    ``limit - 3`` characters and ``...``. Containers (list, tuple, dict, set) are formatted piece by
    piece and the formatting stops once ``limit`` characters exist, so a huge or self-referencing
    value (a YAML alias bomb) is as quick as a small one; a value whose ``repr`` fails (an integer
    beyond Python's digit limit) reads ``<int>``.

    Example
    -------
    >>> bounded_repr([[0] * 1000] * 1000, limit=30)
    '[[0, 0, 0, 0, 0, 0, 0, 0, 0...'
    """
    pieces: list[str] = []
    _append_repr(value, pieces, budget=[limit + 1], active=set())
    text = "".join(pieces).replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _append_repr(value: object, pieces: list[str], *, budget: list[int], active: set[int]) -> None:
    """Append the pieces of ``repr(value)`` to ``pieces`` until ``budget[0]`` characters are used."""
    if budget[0] <= 0:
        return
    if isinstance(value, (list, tuple, dict, set, frozenset)) and type(value) in (list, tuple, dict, set, frozenset):
        empty = {list: "[]", tuple: "()", dict: "{}", set: "set()", frozenset: "frozenset()"}[type(value)]
        if not value:
            text = empty
        elif id(value) in active:
            text = empty[0] + "..." + empty[-1]
        else:
            opening, closing = ("[", "]") if isinstance(value, list) else ("(", ")") if isinstance(value, tuple) else ("{", "}")
            if isinstance(value, frozenset):
                opening, closing = "frozenset({", "})"
            _add(opening, pieces, budget)
            active.add(id(value))
            items = value.items() if isinstance(value, dict) else value
            for i, item in enumerate(items):
                if budget[0] <= 0:
                    break
                if i:
                    _add(", ", pieces, budget)
                if isinstance(value, dict):
                    _append_repr(item[0], pieces, budget=budget, active=active)
                    _add(": ", pieces, budget)
                    item = item[1]
                _append_repr(item, pieces, budget=budget, active=active)
            active.discard(id(value))
            if isinstance(value, tuple) and len(value) == 1:
                _add(",", pieces, budget)
            _add(closing, pieces, budget)
            return
    elif isinstance(value, str) and len(value) > 4 * budget[0] + 16:
        text = repr(value[: 4 * budget[0] + 16])[:-1]  # the start of the repr of a long string
    else:
        try:
            text = repr(value)
        except Exception:  # noqa: BLE001 - formatting an error message must not raise
            text = f"<{type(value).__name__}>"
    _add(text, pieces, budget)


def _add(text: str, pieces: list[str], budget: list[int]) -> None:
    pieces.append(text)
    budget[0] -= len(text)
