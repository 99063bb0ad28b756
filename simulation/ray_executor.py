"""Sweep points on a Ray cluster: one actor per worker, each holding a prepared :class:`~simulation.runner.Runner`.

``simulate SCENARIO --executor ray [--address ADDR] [--workers N]`` starts ``N`` actors (default: one per
CPU of the cluster). Each actor loads the images, teacher and codecs and encodes the images once, then
runs the points the driver hands it, one at a time (preferably of the codec it ran last, so that its
caches of receptions and teacher labels serve it as they do in process); the driver (this process)
writes each row the moment it arrives, exactly as an in-process run does (same files, same ``--resume``).

Results are the same as in process: every point draws its randomness from its own seed (scenario
seed + point key), decoding is deterministic, and a point is never split across workers (all its
packets go through the link in one call, as in process).

Failures: an actor whose process dies (killed, out of memory, node lost) is restarted by Ray (up to
``max_restarts`` times) and prepares again; the point it was running goes back to the queue and runs
again (up to ``max_attempts`` tries in all). A point is written once: a second row for a key already
written is dropped. An exception inside a point (a bug, a bad file) stops the run as it would in process.

Addresses: ``None`` starts a private local Ray instance on 127.0.0.1 (``$RAY_ADDRESS`` is used when set),
``auto`` joins the cluster this machine belongs to (``ray start --head``), ``HOST:PORT`` a given head.

Example
-------
>>> with RayExecutor(loaded, runner_options={}, address=None, workers=2) as ex:   # doctest: +SKIP
...     ex.prepare()
...     rows = list(ex.run(loaded.points))
"""

from __future__ import annotations

import dataclasses
import logging
import os
import resource
import signal
import sys
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping, Sequence

from tqdm import tqdm

from gosvae.errors import UserError
from simulation.executors import add_counters
from simulation.runner import RunCounters
from simulation.scenario import LoadedScenario
from simulation.sweep import SweepPoint

__all__ = ["RAY_EXTRA_HINT", "RayExecutor", "import_ray"]

RAY_EXTRA_HINT = 'install the extra: pip install -e ".[ray]"'
#: Ray's switch for single-machine clusters: ``0`` keeps every Ray address on 127.0.0.1.
LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
#: Environment variables copied to the workers when the driver has them (zoo folder, malloc settings).
FORWARDED_ENV_PREFIXES = ("GOSVAE_", "MALLOC_", "HF_", "TRANSFORMERS_")


def import_ray(*, loopback: bool = False) -> Any:
    """The ``ray`` module; a one-line :class:`UserError` naming the extra when it is not installed.

    ``loopback``: a private local instance will be started; unless Ray is already imported, it is
    kept on 127.0.0.1 (Ray otherwise binds it to the machine's network address).
    """
    if loopback and "ray" not in sys.modules:
        os.environ.setdefault(LOOPBACK_ENV, "0")  # read once, when Ray is imported
    try:
        import ray
    except ImportError:
        raise UserError(f"--executor ray: Ray is not installed; {RAY_EXTRA_HINT}") from None
    return ray


class PointWorker:
    """The body of one Ray actor: a :class:`Runner` prepared on first use, run point by point.

    Parameters
    ----------
    loaded : LoadedScenario
        The scenario as the driver validated it (the YAML file need not exist on the worker's node).
    runner_options : Mapping[str, Any]
        :class:`Runner` options (``reuse``, ``device``, ``batch_size``); progress bars are off.
    cwd : str
        The driver's folder: relative paths of the scenario (model folders) are read from there when
        it exists on the worker's node.
    """

    def __init__(self, loaded: LoadedScenario, *, runner_options: Mapping[str, Any], cwd: str) -> None:
        import torch

        from simulation.runner import Runner

        if os.path.isdir(cwd):
            os.chdir(cwd)
        torch.set_num_threads(max(1, int(os.environ.get("OMP_NUM_THREADS", "1") or 1)))
        self.runner = Runner(loaded, **{**dict(runner_options), "progress": False})
        self.prepared = False

    def prepare(self) -> dict[str, Any]:
        """Load and encode everything (once); the run-wide summary, preparation times and the pid."""
        if not self.prepared:
            self.runner.prepare()
            self.prepared = True
        r = self.runner
        return {"clean": r.clean_summary(), "teacher_on_original": r.teacher_reference(), "label_space": r.label_space_text,
                "stage_seconds": dict(r.stage_seconds), "pid": os.getpid(), "host": os.uname().nodename,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}

    def run_point(self, point: SweepPoint, *, die: bool = False) -> tuple[dict[str, Any], RunCounters, dict[str, float], int]:
        """``(row, work counters of this point, stage seconds of this point, pid)``.

        ``die`` (a test aid): the process kills itself with SIGKILL once the point has started.
        """
        self.prepare()
        if die:
            os.kill(os.getpid(), signal.SIGKILL)
        self.runner.counters, self.runner.stage_seconds = type(self.runner.counters)(), {}
        row = self.runner.run_point(point)
        return row, self.runner.counters, self.runner.stage_seconds, os.getpid()


@dataclass
class _Slot:
    """One actor as the driver sees it."""

    index: int
    actor: Any
    pid: int | None = None
    ready: bool = False
    deaths: int = 0
    alive: bool = True
    codec: str | None = None  # the codec of its last point


class RayExecutor:
    """Runs the points of a scenario on Ray actors (see the module docstring).

    Parameters
    ----------
    loaded : LoadedScenario
        The validated scenario.
    runner_options : Mapping[str, Any]
        :class:`~simulation.runner.Runner` options for every worker.
    address : str | None
        Ray address (``auto``, ``HOST:PORT``, ``ray://…``); ``None``: ``$RAY_ADDRESS`` or a private local instance.
    workers : int | None
        Number of actors (1 CPU each); ``None``: the CPUs of the cluster (of this machine for a local instance).
    max_attempts : int
        Tries of one point before the run stops (a point whose worker dies each time).
    max_restarts : int
        Restarts of one actor by Ray after its process died (the actor then prepares again).
    on_dispatch : Callable[[int, int | None, SweepPoint], None] | None
        Called with (worker index, worker pid, point) each time a point is sent.
    kill_during : str | None
        A test aid: the worker that runs the point of this key the first time kills its own process
        (SIGKILL) in the middle of it, to show the retry.
    """

    def __init__(
        self,
        loaded: LoadedScenario,
        *,
        runner_options: Mapping[str, Any],
        address: str | None = None,
        workers: int | None = None,
        max_attempts: int = 3,
        max_restarts: int = 3,
        on_dispatch: Callable[[int, int | None, SweepPoint], None] | None = None,
        kill_during: str | None = None,
    ) -> None:
        self.address = address if address is not None else os.environ.get("RAY_ADDRESS") or None
        self.ray = import_ray(loopback=self.address is None)
        self.loaded = loaded
        self.runner_options = {k: v for k, v in runner_options.items() if k != "progress"}
        self.workers = workers
        self.max_attempts = max_attempts
        self.max_restarts = max_restarts
        self.on_dispatch = on_dispatch
        self.kill_during = kill_during
        self.counters = RunCounters()
        self.stage_seconds: dict[str, float] = {}
        self.retries: list[dict[str, Any]] = []
        self.duplicates_dropped = 0
        self._slots: list[_Slot] = []
        self._inflight: dict[Any, tuple[_Slot, SweepPoint | None]] = {}
        self._summary: dict[str, Any] | None = None
        self._attempts: dict[str, int] = {}
        self._done: set[str] = set()
        self._started_ray = False
        self._cluster: dict[str, Any] = {}

    # -----------------------------------------------------------------------------------------
    # life cycle
    # -----------------------------------------------------------------------------------------
    def __enter__(self) -> "RayExecutor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Kill the actors; leave Ray (and stop the local instance) if this executor joined it."""
        ray = self.ray
        for slot in self._slots:
            try:
                ray.kill(slot.actor, no_restart=True)
            except Exception:  # already gone
                pass
        self._slots, self._inflight = [], {}
        if self._started_ray and ray.is_initialized():
            ray.shutdown()
        self._started_ray = False

    def _connect(self) -> None:
        ray = self.ray
        if ray.is_initialized():
            return
        options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.WARNING}
        try:
            if self.address is None:  # a private instance on this machine, reachable on loopback only
                os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
                ray.init(address="local", num_cpus=self.workers or os.cpu_count() or 1, **options)
            else:
                ray.init(address=self.address, **options)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            first = "; ".join(_first_line(e) for e in (exc, exc.__cause__) if e is not None)
            raise UserError(f"--address {self.address or 'local'}: cannot join the Ray cluster ({first})") from None
        self._started_ray = True

    def prepare(self) -> None:
        """Join Ray, start the actors and wait until the first one is prepared (the others go on)."""
        ray = self.ray
        self._connect()
        resources = ray.cluster_resources()
        cpus = int(resources.get("CPU", 0))
        self._cluster = {"address": self.address or "local", "nodes": len([n for n in ray.nodes() if n.get("Alive")]), "cpus": cpus}
        count = self.workers or max(1, cpus)
        device = str(self.runner_options.get("device", "cpu"))
        env = {k: v for k, v in os.environ.items() if k.startswith(FORWARDED_ENV_PREFIXES)}
        env["OMP_NUM_THREADS"] = "1"  # one CPU per worker: one thread
        actor_class = ray.remote(PointWorker).options(
            num_cpus=1, num_gpus=1 if device.startswith("cuda") else 0, max_restarts=self.max_restarts, max_task_retries=0,
            runtime_env={"env_vars": env},
        )
        # the scenario goes inline with each actor (a few kB), so that Ray can restart an actor from it
        shipped = _with_resolved_root(self.loaded)
        self._slots = [_Slot(i, actor_class.remote(shipped, runner_options=self.runner_options, cwd=os.getcwd()))
                       for i in range(count)]
        for slot in self._slots:
            self._send_prepare(slot)
        tqdm.write(f"ray: {count} worker(s) on {self._cluster['nodes']} node(s), {cpus} CPU(s) "
                   f"({self._cluster['address']}); preparing")
        start = time.perf_counter()
        while self._summary is None:
            self._collect(self._wait_one(), pending=deque())
        self._cluster["first_worker_ready_seconds"] = round(time.perf_counter() - start, 3)

    def wait_ready(self) -> None:
        """Wait until every worker is prepared (benchmarks: time the points apart from the start-up)."""
        while any(s.alive and not s.ready for s in self._slots):
            self._collect(self._wait_one(), pending=deque())

    def summary(self) -> dict[str, Any]:
        assert self._summary is not None, "prepare() first"
        return {k: self._summary[k] for k in ("clean", "teacher_on_original", "label_space")}

    def describe(self) -> dict[str, Any]:
        return {"name": "ray", **self._cluster, "workers": len(self._slots) or self.workers,
                "worker_deaths": sum(s.deaths for s in self._slots), "retries": list(self.retries),
                "duplicates_dropped": self.duplicates_dropped}

    # -----------------------------------------------------------------------------------------
    # points
    # -----------------------------------------------------------------------------------------
    def run(self, points: Sequence[SweepPoint]) -> Iterator[dict[str, Any]]:
        """Yield one row per point as the workers finish them (any order, each key once)."""
        pending: deque[SweepPoint] = deque(points)
        self._attempts.update({p.key: 0 for p in points})
        while pending or any(point is not None for _, point in self._inflight.values()):
            self._dispatch(pending)
            row = self._collect(self._wait_one(), pending=pending)
            if row is not None:
                yield row

    def _send_prepare(self, slot: _Slot) -> None:
        """Ask ``slot`` to prepare; Ray repeats the call across restarts of the actor (it is idempotent),
        so it only fails once the actor is gone for good."""
        self._inflight[slot.actor.prepare.options(max_task_retries=-1).remote()] = (slot, None)

    def _busy(self, slot: _Slot) -> bool:
        return any(s is slot for s, _ in self._inflight.values())

    def _dispatch(self, pending: deque[SweepPoint]) -> None:
        for slot in self._slots:
            if not pending:
                return
            if slot.alive and slot.ready and not self._busy(slot):
                point = self._next_point(slot, pending)
                slot.codec = point.codec
                self._attempts[point.key] += 1
                die = point.key == self.kill_during and self._attempts[point.key] == 1
                self._inflight[slot.actor.run_point.remote(point, die=die)] = (slot, point)
                if self.on_dispatch is not None:
                    self.on_dispatch(slot.index, slot.pid, point)
        if pending and not any(s.alive for s in self._slots):
            raise UserError("ray: every worker died (restarts used up); finished points are saved; rerun with --resume")

    def _next_point(self, slot: _Slot, pending: deque[SweepPoint]) -> SweepPoint:
        """The next point for ``slot``, taken out of ``pending``: one of the codec it ran last, else one
        of a codec no other worker is on, else the first. A worker's caches (receptions seen before, the
        teacher's labels) serve the points of one codec; results do not depend on the choice."""
        others = {s.codec for s in self._slots if s is not slot and s.alive}
        for wanted in (lambda p: p.codec == slot.codec, lambda p: p.codec not in others):
            for i, point in enumerate(pending):
                if wanted(point):
                    del pending[i]
                    return point
        return pending.popleft()

    def _wait_one(self) -> Any:
        if not self._inflight:
            raise UserError("ray: no worker is left to run the remaining points; finished points are saved; rerun with --resume")
        ready, _ = self.ray.wait(list(self._inflight), num_returns=1)
        return ready[0]

    def _collect(self, ref: Any, *, pending: deque[SweepPoint]) -> dict[str, Any] | None:
        """Take one finished call: a prepared worker, a row, or a dead worker (its point requeued)."""
        ray = self.ray
        slot, point = self._inflight.pop(ref)
        try:
            result = ray.get(ref)
        except ray.exceptions.RayTaskError as exc:  # the code raised: as in process, the run stops
            cause = getattr(exc, "cause", None)
            if isinstance(cause, UserError):
                raise UserError(str(cause)) from None
            raise (cause if isinstance(cause, BaseException) else exc) from None
        except ray.exceptions.RayError as exc:  # the worker process died: requeue, Ray restarts the actor
            self._worker_died(slot, point, exc, pending)
            return None
        if point is None:  # a prepare() call
            slot.ready, slot.pid = True, result["pid"]
            self._cluster["worker_peak_rss_mb_after_prepare"] = round(
                max(self._cluster.get("worker_peak_rss_mb_after_prepare", 0.0), result["peak_rss_mb"]), 1)
            for stage, seconds in result["stage_seconds"].items():
                self.stage_seconds[stage] = self.stage_seconds.get(stage, 0.0) + seconds
            if self._summary is None:
                self._summary = result
            return None
        row, counters, stages, slot.pid = result
        if point.key in self._done:  # a retried point whose first try did finish: never written twice
            self.duplicates_dropped += 1
            return None
        self._done.add(point.key)
        add_counters(self.counters, counters)
        for stage, seconds in stages.items():
            self.stage_seconds[stage] = self.stage_seconds.get(stage, 0.0) + seconds
        return row

    def _worker_died(self, slot: _Slot, point: SweepPoint | None, exc: Exception, pending: deque[SweepPoint]) -> None:
        slot.ready = False
        reason = _first_line(exc)
        if point is None:  # even Ray's retries of prepare() failed: the actor's restarts are used up
            slot.alive = False
            tqdm.write(f"ray: worker {slot.index} is gone ({reason}); the others go on")
            return
        slot.deaths += 1
        self._send_prepare(slot)  # Ray restarts the actor; it prepares again before it gets points
        if self._attempts[point.key] >= self.max_attempts:
            raise UserError(f"ray: point {point.key} lost its worker {self._attempts[point.key]} times ({reason}); "
                            "finished points are saved; rerun with --resume")
        self.retries.append({"key": point.key, "worker": slot.index, "attempt": self._attempts[point.key] + 1,
                             "reason": reason})
        tqdm.write(f"ray: worker {slot.index} died during point {point.key} ({reason}); the point runs again")
        pending.appendleft(point)


def _first_line(exc: BaseException) -> str:
    """The first line of an exception's message (160 characters at most), or its type."""
    text = str(exc).strip()
    return text.splitlines()[0][:160] if text else type(exc).__name__


def _with_resolved_root(loaded: LoadedScenario) -> LoadedScenario:
    """``loaded`` with ``dataset.root`` expanded here (``${VAR:-default}``) and made absolute, so that
    the workers read the folder the driver checked, whatever their environment and folder."""
    dataset = loaded.scenario.dataset
    root = dataset.resolved_root
    if root is None:
        return loaded
    dataset = dataset.model_copy(update={"root": os.path.abspath(root)})
    return dataclasses.replace(loaded, scenario=loaded.scenario.model_copy(update={"dataset": dataset}))
