"""Progress of a ``simulate`` sweep: one report per finished point, whatever the executor.

:func:`track_points` wraps the rows an executor yields (:mod:`simulation.executors`, in process or
on Ray). On a terminal it draws the tqdm bar; when stderr is not a terminal (output redirected to a
file, a batch job's log) it writes one plain line per finished point, flushed at once::

    simulate awgn: point 3/12 done (25%), elapsed 0:00:41, ETA 0:02:03, codec=vq-vae-r4;snr_db=4

Example
-------
>>> import io
>>> stream = io.StringIO()
>>> rows = track_points(iter([{"key": "codec=a;snr_db=0"}]), total=1, desc="x", stream=stream, clock=lambda: 0.0)
>>> _ = list(rows)
>>> stream.getvalue()
'x: point 1/1 done (100%), elapsed 0:00:00, ETA 0:00:00, codec=a;snr_db=0\\n'
"""

from __future__ import annotations

import sys
import time
from typing import Any, Callable, Iterable, Iterator, TextIO

from tqdm import tqdm

__all__ = ["format_duration", "progress_line", "track_points"]


def format_duration(seconds: float) -> str:
    """``H:MM:SS`` of a duration in seconds (``?`` when unknown or negative)."""
    if not seconds >= 0 or seconds == float("inf"):
        return "?"
    whole = int(round(seconds))
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


def progress_line(*, desc: str, done: int, total: int, elapsed: float, key: str) -> str:
    """One plain progress line: points done / total, percentage, elapsed time, ETA and the point's key.

    The ETA assumes the remaining points take as long on average as those done so far.
    """
    percent = 100.0 * done / total if total else 100.0
    eta = elapsed / done * (total - done) if done else float("nan")
    return (f"{desc}: point {done}/{total} done ({percent:.0f}%), elapsed {format_duration(elapsed)}, "
            f"ETA {format_duration(eta)}, {key}")


def _is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if isatty is not None else False
    except (OSError, ValueError):  # a closed or detached stream
        return False


def track_points(
    rows: Iterable[dict[str, Any]],
    *,
    total: int,
    desc: str,
    enabled: bool | None = None,
    stream: TextIO | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[dict[str, Any]]:
    """Yield ``rows`` unchanged, reporting each as a finished point.

    Inputs
    ------
    rows : Iterable[dict]
        Result rows as an executor yields them (each with its point's ``key``).
    total : int
        Number of points this run will finish.
    desc : str
        Name shown before the counts (the scenario's name).
    enabled : bool | None
        ``False``: no report; ``None`` or ``True``: a tqdm bar when ``stream`` is a terminal, else a
        plain line per point (:func:`progress_line`).
    stream : TextIO | None
        Where the reports go (default: ``sys.stderr`` at call time).
    clock : Callable[[], float]
        Seconds, for elapsed time and ETA (tests pass a fake clock).

    Output
    ------
    Iterator over the same rows, in the same order.
    """
    stream = sys.stderr if stream is None else stream
    if enabled is False:
        yield from rows
    elif _is_terminal(stream):
        yield from tqdm(rows, total=total, desc=desc, unit="point", file=stream)
    else:
        start = clock()
        for done, row in enumerate(rows, start=1):
            line = progress_line(desc=desc, done=done, total=total, elapsed=clock() - start, key=str(row.get("key", "?")))
            print(line, file=stream, flush=True)
            yield row
