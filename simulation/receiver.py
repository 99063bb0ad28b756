"""The receiver of a run: decode received packets, segment with the teacher, score, reusing repeated work.

:class:`Receiver` holds the teacher (its fast inference copy, :func:`~gosvae.teachers.inference.inference_teacher`),
the original images, their ground truth and the teacher's labels of them, and turns the received
packets of images into :class:`~simulation.scores.ImageScores`. Work already done in the run is
reused, exactly:

- **repeated receptions**: an image whose received packets (``None`` = lost) equal those of an
  earlier reception of the same image with the same codec gets that reception's scores (decoding
  and the teacher are deterministic per image);
- **the same packets for several images** (typically every packet lost): decoded once per call;
- **repeated pixels**: a decoded image whose float32 pixels are byte-identical to an image the
  teacher already labelled (every packet lost at another point, or of another image) gets those
  labels (:class:`LabelCache`).

With ``reuse=False`` nothing is reused and every image is decoded and labelled (the plain path,
same numbers). The keys are 128-bit BLAKE2b digests of the packets / pixels.

On the CPU the teacher's passes run on ``workers`` threads with one core each, side by side (the
images of a point are decoded ``workers`` at a time, then labelled together); on a quiet machine
that is as fast as one pass on all cores, and much faster when other processes share the cores.

Bit-identical results need the per-image computations not to depend on which images share a
pass: the default batch size 1 (see :class:`~simulation.runner.Runner`).

Example
-------
>>> receiver = Receiver(teacher, images=x, labels=y, device="cpu")            # doctest: +SKIP
>>> scores, work = receiver.decode_and_score("curve", codec, received, [0, 1, 2])
>>> work.decoded, work.repeated, work.teacher_reused
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable, Sequence

import torch

from gosvae.codecs import Codec, DecodedBatch
from gosvae.teachers.base import Teacher
from gosvae.teachers.inference import inference_teacher, predict_labels
from gosvae.teachers.quantized import Int8Calibration, int8_unavailable_reason
from simulation.scores import ImageScores, score_images

__all__ = ["LabelCache", "Receiver", "ReceiverWork", "RunCounters", "packets_key", "pixels_key", "teacher_precision_used"]

#: Entries kept by each cache (least recently used dropped first): labels ~128 KB, scores ~6 KB each at 19 classes.
DEFAULT_MAX_LABELS = 512
DEFAULT_MAX_SCORES = 16384


def packets_key(packets: Sequence[bytes | None]) -> bytes:
    """A 16-byte digest of received packets: their number, each one's length (-1 = lost) and bytes."""
    digest = hashlib.blake2b(len(packets).to_bytes(8, "little"), digest_size=16)
    for packet in packets:
        digest.update((-1 if packet is None else len(packet)).to_bytes(8, "little", signed=True))
        if packet:
            digest.update(packet)
    return digest.digest()


def pixels_key(image: torch.Tensor) -> bytes:
    """A 16-byte digest of an image tensor's dtype, shape and values (any layout)."""
    array = image.detach().cpu().contiguous().numpy()
    digest = hashlib.blake2b(f"{array.dtype}{array.shape}".encode(), digest_size=16)
    digest.update(array.tobytes())
    return digest.digest()


def teacher_precision_used(requested: str, *, device: str) -> tuple[str, str | None]:
    """The precision the receiver's teacher runs in for a scenario's ``teacher_precision``, and a
    one-line note when it is not the one requested.

    ``int8`` runs on the CPU with PyTorch's oneDNN int8 kernels; on another device, or without
    them, the teacher runs in float32 (the note says why). ``float32`` is always float32.
    """
    if requested != "int8":
        return "float32", None
    if torch.device(device).type != "cpu":
        return "float32", f"teacher_precision: int8 runs on the CPU; the teacher runs in float32 on {device}"
    reason = int8_unavailable_reason()
    if reason is not None:
        return "float32", f"teacher_precision: int8 is unavailable ({reason}); the teacher runs in float32"
    return "int8", None


class _LRU(OrderedDict):
    """A dict that keeps its ``max_entries`` most recently used entries."""

    def __init__(self, max_entries: int) -> None:
        super().__init__()
        self.max_entries = int(max_entries)

    def lookup(self, key: Hashable) -> object | None:
        value = self.get(key)
        if value is not None:
            self.move_to_end(key)
        return value

    def store(self, key: Hashable, value: object) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.max_entries:
            self.popitem(last=False)


class LabelCache:
    """Teacher labels of images seen before, by :func:`pixels_key` (at most ``max_entries``).

    Labels are kept as uint8 (int16 beyond 256 classes) on the CPU and returned as int64.
    """

    def __init__(self, *, max_entries: int = DEFAULT_MAX_LABELS) -> None:
        self._labels = _LRU(max_entries)

    def __len__(self) -> int:
        return len(self._labels)

    def labels(self, images: torch.Tensor, predict: Callable[[torch.Tensor], torch.Tensor]) -> tuple[torch.Tensor, int]:
        """Labels of ``images`` (B, 3, H, W) float: ``((B, H, W) int64, number served from the cache)``.

        ``predict`` labels the images not seen before, each distinct one once: (M, 3, H, W) → (M, H, W) int.
        """
        keys = [pixels_key(image) for image in images]
        found = {k: self._labels.lookup(k) for k in dict.fromkeys(keys)}
        missing = [k for k, v in found.items() if v is None]
        if missing:
            first = {k: keys.index(k) for k in missing}
            predicted = predict(images[[first[k] for k in missing]])
            storage = torch.uint8 if int(predicted.max()) < 256 else torch.int32
            for k, labels in zip(missing, predicted):
                found[k] = labels.to(storage)
                self._labels.store(k, found[k])
        out = torch.stack([found[k].long() for k in keys])
        return out, len(keys) - len(missing)


@dataclass
class ReceiverWork:
    """What one :meth:`Receiver.decode_and_score` call did and how long it took.

    ``decoded``: images scored from a decode (several images with the same packets share one);
    ``repeated``: images given the scores of an earlier identical reception; ``teacher_reused``:
    decoded images whose labels came from :class:`LabelCache`; seconds of decoding and of
    labelling + scoring.
    """

    decoded: int = 0
    repeated: int = 0
    teacher_reused: int = 0
    decode_seconds: float = 0.0
    teacher_seconds: float = 0.0


@dataclass
class RunCounters:
    """Work done by the points of a run, and what reuse of clean scores saved.

    ``images_reused``: images that arrived intact (clean scores); ``images_decoded``: the others,
    scored by the receiver, of which ``images_repeated`` were received exactly as at an earlier
    point (that reception's scores, nothing decoded) and ``teacher_reused`` decoded to pixels the
    teacher had labelled before.
    """

    points: int = 0
    images_decoded: int = 0
    images_reused: int = 0
    images_repeated: int = 0
    teacher_reused: int = 0
    decode_seconds: float = 0.0
    teacher_seconds: float = 0.0
    link_stages: dict[str, float] = field(default_factory=dict)

    def add_work(self, work: ReceiverWork) -> None:
        """Count what one :meth:`Receiver.decode_and_score` call of a point did."""
        self.images_decoded += work.decoded + work.repeated
        self.images_repeated += work.repeated
        self.teacher_reused += work.teacher_reused
        self.decode_seconds += work.decode_seconds
        self.teacher_seconds += work.teacher_seconds

    @property
    def seconds_per_decoded_image(self) -> float:
        fresh = self.images_decoded - self.images_repeated
        return (self.decode_seconds + self.teacher_seconds) / fresh if fresh > 0 else 0.0

    @property
    def saved_seconds_estimate(self) -> float:
        """Reused images × the measured decode + teacher time per decoded image."""
        return self.images_reused * self.seconds_per_decoded_image

    def to_dict(self) -> dict[str, Any]:
        return {
            "points": self.points,
            "images_decoded": self.images_decoded,
            "images_reused": self.images_reused,
            "images_repeated": self.images_repeated,
            "teacher_reused": self.teacher_reused,
            "decode_seconds": round(self.decode_seconds, 3),
            "teacher_seconds": round(self.teacher_seconds, 3),
            "saved_seconds_estimate": round(self.saved_seconds_estimate, 3),
            "link_stage_seconds": {k: round(v, 3) for k, v in self.link_stages.items()},
        }


class Receiver:
    """Decodes and scores received images of a run (see the module docstring).

    Parameters
    ----------
    teacher : Teacher
        The scoring teacher (in the dataset's label space), frozen.
    images : (N, 3, H, W) float32 in [0, 1]
        The original images (CPU).
    labels : (N, H, W) int64
        Their ground truth (255 = ignore).
    device : str
        Device of the teacher.
    batch_size : int
        Images per decoder / teacher pass.
    reuse : bool
        Reuse repeated receptions and repeated pixels (module docstring); ``False``: the plain path.
    fast_teacher : bool
        Label with :func:`~gosvae.teachers.inference.inference_teacher` (same labels to float32
        rounding) on ``workers`` threads; ``False``: ``teacher.predict`` itself, in this thread.
    int8 : Int8Calibration | None
        Label with the teacher's int8 copy (:mod:`gosvae.teachers.quantized`) calibrated so, on
        ``workers`` threads (see :func:`teacher_precision_used`); ``None``: float32.
    workers : int | None
        With ``fast_teacher`` on the CPU: teacher passes run side by side on this many threads, each
        pass on one core (``None``: ``torch.get_num_threads()``). Passes on one core scale across
        cores better than one pass on several, and far better when other processes share the CPU;
        every pass then runs the same single-threaded kernels, whatever the number of images.
    """

    def __init__(self, teacher: Teacher, *, images: torch.Tensor, labels: torch.Tensor, device: str = "cpu",
                 batch_size: int = 1, reuse: bool = True, fast_teacher: bool = True, workers: int | None = None,
                 int8: Int8Calibration | None = None) -> None:
        fast_teacher = fast_teacher or int8 is not None
        self.teacher = inference_teacher(teacher, int8=int8) if fast_teacher else teacher
        self.images, self.labels = images, labels
        self.device, self.batch_size, self.reuse = device, int(batch_size), bool(reuse)
        on_cpu = torch.device(device).type == "cpu"
        self.workers = (workers or torch.get_num_threads()) if fast_teacher and on_cpu else 0
        self._pool = ThreadPoolExecutor(self.workers, initializer=torch.set_num_threads, initargs=(1,)) if self.workers else None
        self.label_cache = LabelCache()
        self._scores = _LRU(DEFAULT_MAX_SCORES)
        self.teacher_labels = self.label(images)[0]

    @property
    def num_classes(self) -> int:
        return self.teacher.num_classes

    def label(self, images: torch.Tensor) -> tuple[torch.Tensor, int]:
        """Teacher labels (B, H, W) int64 of ``images`` (B, 3, H, W), and how many came from the cache."""
        if self.reuse:
            return self.label_cache.labels(images, self.predict)
        return self.predict(images), 0

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """Teacher labels (B, H, W) int64 of ``images`` (B, 3, H, W), in passes of ``batch_size`` (on the workers)."""
        def one(chunk: torch.Tensor) -> torch.Tensor:
            return predict_labels(self.teacher, chunk.to(self.device)).cpu()

        chunks = images.split(self.batch_size)
        return torch.cat(list(self._pool.map(one, chunks)) if self._pool is not None else [one(c) for c in chunks])

    def close(self) -> None:
        """Stop the worker threads (also at exit)."""
        if self._pool is not None:
            self._pool.shutdown()

    def decode_and_score(
        self, codec_label: str, codec: Codec, received: Sequence[Sequence[bytes | None]], indices: Sequence[int],
        *, stage: Callable[[str], AbstractContextManager] = lambda name: nullcontext(),
        progress: Callable[[int], object] | None = None,
    ) -> tuple[list[ImageScores], ReceiverWork]:
        """Scores of images ``indices`` received as ``received`` (one packet list each) through ``codec``.

        ``stage(name)`` times the ``"decode"`` and ``"teacher"`` (labels and scores) parts;
        ``progress(n)`` is called with the number of images scored after each pass.
        """
        work = ReceiverWork()
        out: list[ImageScores | None] = [None] * len(indices)
        groups: dict[bytes | int, list[int]] = {}  # distinct receptions to decode -> positions
        for pos, (index, packets) in enumerate(zip(indices, received)):
            key = packets_key(packets) if self.reuse else pos
            hit = self._scores.lookup((codec_label, index, key)) if self.reuse else None
            if hit is not None:
                out[pos] = hit
                work.repeated += 1
            else:
                groups.setdefault(key, []).append(pos)
        todo = list(groups.items())
        step = self.batch_size * max(1, self.workers)  # receptions per round: one pass per worker
        for start in range(0, len(todo), step):
            chunk = todo[start : start + step]
            t0 = time.perf_counter()
            with stage("decode"):
                decoded = self._decode(codec, [list(received[members[0]]) for _, members in chunk])
            t1 = time.perf_counter()
            with stage("teacher"):
                predictions, reused = self.label(decoded.images)
                work.teacher_reused += reused
                for j, (key, members) in enumerate(chunk):
                    for pos in members:
                        index = indices[pos]
                        out[pos] = score_images(
                            decoded.images[j : j + 1], predictions=predictions[j : j + 1],
                            reference=self.images[index : index + 1], labels=self.labels[index : index + 1],
                            teacher_labels=self.teacher_labels[index : index + 1],
                            concealed=decoded.concealed_fraction[j : j + 1], failed=decoded.failed[j : j + 1],
                            num_classes=self.num_classes,
                        )[0]
                        if self.reuse:
                            self._scores.store((codec_label, index, key), out[pos])
            work.decoded += sum(len(members) for _, members in chunk)
            if progress is not None:
                progress(sum(len(members) for _, members in chunk))
            work.decode_seconds += t1 - t0
            work.teacher_seconds += time.perf_counter() - t1
        return out, work  # type: ignore[return-value]

    def _decode(self, codec: Codec, received: list[list[bytes | None]]) -> DecodedBatch:
        """``codec.decode`` in passes of ``batch_size``, joined into one batch."""
        parts = [codec.decode(received[i : i + self.batch_size], image_size=self.image_size)
                 for i in range(0, len(received), self.batch_size)]
        if len(parts) == 1:
            return parts[0]
        return DecodedBatch(images=torch.cat([p.images for p in parts]),
                            concealed_fraction=[c for p in parts for c in p.concealed_fraction],
                            failed=[f for p in parts for f in p.failed])

    @property
    def image_size(self) -> tuple[int, int]:
        return int(self.images.shape[-2]), int(self.images.shape[-1])
