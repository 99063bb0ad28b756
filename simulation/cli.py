"""``simulate``: run a scenario's sweep and write its results, plots, resolved scenario and manifest.

Usage
-----
``simulate SCENARIO.yaml [--out DIR] [--resume] [--num-images N] [--allow-large]``
    Runs every sweep point of the scenario and writes, into ``DIR`` (default
    ``runs/simulate/<scenario name>``): ``results.csv`` (a row per point, appended as each point
    ends), ``results.json``, ``plots/*.png``, ``scenario.resolved.yaml`` and ``manifest.json``.
    ``--resume`` continues an interrupted run in ``DIR``, skipping finished points.
    ``--device cuda`` a torch build without CUDA cannot use is refused at once (one line, exit 2).
    Progress: a tqdm bar on a terminal; when stderr is not a terminal (redirected to a file), one
    line per finished point (done/total, elapsed, ETA, the point's key) (:mod:`simulation.progress`).
``simulate SCENARIO.yaml --executor ray [--address ADDR] [--workers N]``
    Runs the points as Ray actors (the ``ray`` extra: ``pip install -e ".[ray]"``): on a private
    local instance, or on the cluster at ``ADDR`` (``auto`` for the one this machine joined with
    ``ray start``); same files, same results, same ``--resume`` (see :mod:`simulation.ray_executor`).
``simulate --list-channels``
    Lists the channel models (built-in and plugins) with their parameters.
``simulate --list-codecs``
    Lists the codecs (built-in and plugins; those that failed to load marked ``FAILED``) with
    their parameters (a scenario's ``codecs[i].params``).

Memory allocator
----------------
glibc's malloc hands large freed blocks back to the operating system at once, which roughly halves
the speed of large-batch LDPC decoding and 64-QAM demapping here. These variables keep them in
the process; they only work when set before Python starts::

    MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=68719476736 MALLOC_TOP_PAD_=1073741824

When they are not all set, the ``simulate`` command restarts itself once with them (on Linux with
glibc; the variable ``GOSVAE_SIMULATE_REEXEC`` marks the restarted process so that it never loops).
Set ``GOSVAE_NO_REEXEC=1`` to turn the restart off.

Example
-------
>>> main(["scenarios/awgn.yaml", "--num-images", "4", "--out", "runs/simulate/try"])  # doctest: +SKIP
0
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import warnings
from typing import TYPE_CHECKING, Callable, Sequence, TextIO

from gosvae.cli_common import run_cli
from gosvae.errors import UserError

if TYPE_CHECKING:
    from gosvae.registry import Registry

MALLOC_ENV = {
    "MALLOC_MMAP_THRESHOLD_": "4294967296",
    "MALLOC_TRIM_THRESHOLD_": "68719476736",
    "MALLOC_TOP_PAD_": "1073741824",
}
REEXEC_GUARD = "GOSVAE_SIMULATE_REEXEC"
NO_REEXEC = "GOSVAE_NO_REEXEC"


class _Parser(argparse.ArgumentParser):
    """Argument errors become one-line :class:`UserError` (exit code 2 through ``run_cli``)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UserError(f"{message} (see simulate --help)")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="simulate",
        description="Send a scenario's images through its codecs and link, sweep the settings, and score the "
        "received images (mIoU, BER, packet loss, PSNR).",
        epilog="Scenario files: scenarios/*.yaml. Results: DIR/results.csv, results.json, plots/, manifest.json. "
        "On Linux the command restarts itself once with glibc malloc settings that keep large freed blocks "
        "(MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_, MALLOC_TOP_PAD_; about 2x faster LDPC decoding) unless "
        "they are already set or GOSVAE_NO_REEXEC=1.",
    )
    parser.add_argument("scenario", nargs="?", metavar="SCENARIO", help="scenario YAML file (see scenarios/)")
    parser.add_argument("--out", metavar="DIR", help="output folder (default: runs/simulate/<scenario name>)")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run in DIR, skipping finished points")
    parser.add_argument("--num-images", type=_positive_int, metavar="N", help="override dataset.num_images")
    parser.add_argument("--allow-large", action="store_true",
                        help="run a sweep of more than 100000 image transmissions (points x images); "
                             "without it such a scenario is refused before anything runs")
    parser.add_argument("--list-channels", action="store_true", help="list the channel models and their parameters, then exit")
    parser.add_argument("--list-codecs", action="store_true", help="list the codecs (plugins included) and their parameters, then exit")
    parser.add_argument("--device", default="cpu", help="torch device of the teacher and the link (default: cpu); codecs decode on the CPU")
    parser.add_argument("--batch-size", type=_positive_int, default=1, metavar="B",
                        help="images per decoder/teacher pass (default 1: results independent of batching, as fast on a CPU; "
                             "larger batches speed up a GPU and match to float32 rounding)")
    parser.add_argument("--no-reuse", action="store_true",
                        help="debug: decode every image at every point instead of reusing the clean-channel scores of "
                        "images whose packets all arrived intact (same results, slower)")
    parser.add_argument("--executor", choices=("inprocess", "ray"), default="inprocess",
                        help="where the points run: in this process (default) or as Ray actors (needs the ray extra: "
                        'pip install -e ".[ray]")')
    parser.add_argument("--address", metavar="ADDR",
                        help="with --executor ray: the Ray cluster (auto: the one this machine joined; HOST:PORT of its "
                        "head); default $RAY_ADDRESS, else a private local instance")
    parser.add_argument("--workers", type=_positive_int, metavar="N",
                        help="with --executor ray: number of workers, 1 CPU each (default: every CPU of the cluster)")
    parser.add_argument("--max-points", type=_positive_int, help=argparse.SUPPRESS)  # stop early (tests of --resume)
    return parser


def _maybe_reexec() -> None:
    """Restart once with the malloc settings of the module docstring, if they are missing."""
    if os.environ.get(REEXEC_GUARD) or os.environ.get(NO_REEXEC) or all(k in os.environ for k in MALLOC_ENV):
        return
    if sys.platform != "linux" or platform.libc_ver()[0] != "glibc":
        return
    env = {**os.environ, **{k: v for k, v in MALLOC_ENV.items() if k not in os.environ}, REEXEC_GUARD: "1"}
    code = "import sys; from simulation.cli import main; sys.exit(main())"
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execve(sys.executable, [sys.executable, "-c", code, *sys.argv[1:]], env)
    except OSError:
        return  # carry on in this process, just slower


def codec_listing(registry: "Registry | None" = None) -> str:
    """Every registered codec (built-in and plugins): ``name (origin): description`` then one line
    per parameter; a codec that failed to load reads ``name (origin): FAILED: reason``.

    ``registry`` defaults to :data:`gosvae.registry.CODECS` (tests pass their own).
    """
    from pydantic import BaseModel

    import gosvae.codecs  # noqa: F401 - registers the built-in codecs
    from gosvae.registry import CODECS
    from simulation.report import describe_params

    out = ["Codecs (scenario: codecs[i].codec; parameters under codecs[i].params):", ""]
    for entry in (registry or CODECS).entries():
        if entry.obj is None:
            out.append(f"{entry.name} ({entry.origin}): FAILED: {entry.description.removeprefix('failed to load: ')}")
            continue
        out.append(f"{entry.name} ({entry.origin}): {entry.description}")
        params = getattr(entry.obj, "Params", None)
        lines = describe_params(params) if isinstance(params, type) and issubclass(params, BaseModel) else []
        out += [f"    {line}" for line in lines] or ["    parameters: none"]
    return "\n".join(out)


def _check_device(name: str) -> None:
    """Refuse a ``--device`` this machine cannot use, before any work (one-line :class:`UserError`).

    Input: the ``--device`` value. Output: none; raises as ``gosvae train`` does for ``run.device``
    (:func:`gosvae.training.device.resolve_device`), naming ``--device``.
    """
    from gosvae.training.device import resolve_device

    resolve_device(name, option="--device")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``simulate`` console script (``argv=None``: the command line)."""
    if argv is None:
        _maybe_reexec()
    try:
        return run_cli(_main, list(sys.argv[1:]) if argv is None else list(argv))
    except BrokenPipeError:  # output piped into e.g. `head`: the results are saved, stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    if args.list_channels:
        from simulation.report import channel_listing

        print(channel_listing())
        return 0
    if args.list_codecs:
        print(codec_listing())
        return 0
    if not args.scenario:
        raise UserError("missing SCENARIO: give a scenario YAML file (see scenarios/), --list-channels or --list-codecs")
    _check_device(args.device)
    if args.executor != "ray" and (args.address is not None or args.workers is not None):
        raise UserError("--address and --workers need --executor ray")
    if args.executor == "ray":  # before anything loads: a missing extra is one line
        from simulation.ray_executor import import_ray

        import_ray(loopback=args.address is None and not os.environ.get("RAY_ADDRESS"))
    with warnings.catch_warnings():
        # Deprecated scenario spellings (simulation.scenario.move_receiver_params): one line each.
        warnings.filterwarnings("default", category=DeprecationWarning, module=r"simulation\.scenario")
        warnings.showwarning = _scenario_deprecations_on_one_line(warnings.showwarning)
        return _run_session(args, argv)


def _scenario_deprecations_on_one_line(show: Callable[..., None]) -> Callable[..., None]:
    """``warnings.showwarning`` that prints the scenario's deprecation warnings as one line."""

    def showwarning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                    file: TextIO | None = None, line: str | None = None) -> None:
        if issubclass(category, DeprecationWarning) and filename.endswith("scenario.py"):
            print(f"warning: {message}", file=sys.stderr, flush=True)
        else:
            show(message, category, filename, lineno, file, line)

    return showwarning


def _run_session(args: argparse.Namespace, argv: Sequence[str] | None) -> int:
    from simulation.session import run_session

    return run_session(
        scenario_path=args.scenario,
        out=args.out,
        resume=args.resume,
        num_images=args.num_images,
        allow_large=args.allow_large,
        device=args.device,
        batch_size=args.batch_size,
        reuse=not args.no_reuse,
        max_points=args.max_points,
        argv=list(argv or []),
        executor=args.executor,
        address=args.address,
        workers=args.workers,
    )


if __name__ == "__main__":
    sys.exit(main())
