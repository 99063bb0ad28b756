"""Running a scenario: images, teacher and codecs loaded once, then one link call per sweep point.

:meth:`Runner.prepare` loads the images, the teacher and the codecs, computes the teacher's labels
of the original images once, encodes every image once per codec (packets, payload) and decodes the
clean packets once (the clean-channel scores of each image). :meth:`Runner.run_point` then sends
all packets of all images of the point through the link in one call, splits the received packets
back per image, and decodes and scores only the images where some packet was lost or damaged;
an image whose packets all arrived intact (received == sent) reuses its clean scores, which is
exact because decoding is deterministic. The receiver (:class:`~simulation.receiver.Receiver`)
also reuses the scores of an image received exactly as at an earlier point, and the teacher's
labels of decoded pixels it has labelled before (``reuse_repeats``), and labels with the teacher's
fast inference copy (``fast_teacher``, :mod:`gosvae.teachers.inference`). ``reuse=False`` decodes
and labels every image at every point (same numbers, slower; for checks and benchmarks).

Example
-------
>>> runner = Runner(load_scenario("scenarios/awgn.yaml"))          # doctest: +SKIP
>>> runner.prepare()
>>> row = runner.run_point(runner.loaded.points[0])
>>> row["miou_gt"], row["packet_loss_rate"]
"""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Iterator

import torch
from tqdm import tqdm

from gosvae.codecs import Bitstream, Codec, build_codec
from gosvae.errors import UserError
from gosvae.labels import LabelMapping, dataset_class_names, label_space_of, scoring_teacher
from gosvae.teachers.quantized import Int8Calibration, zoo_int8_calibration
from simulation.link import Link, LinkStats
from simulation.receiver import Receiver, RunCounters, teacher_precision_used
from simulation.scenario import CodecSection, LoadedScenario
from simulation.scores import ImageScores, aggregate_scores
from simulation.sweep import SweepPoint, resolve_channel, resolve_link

__all__ = ["DEFAULT_BATCH_SIZE", "PreparedCodec", "RunCounters", "Runner", "byte_budgets", "codec_identity", "load_scenario_teacher"]

#: Images per decoder / teacher pass (see :class:`Runner`); ``simulate --batch-size`` states the same default.
DEFAULT_BATCH_SIZE = 1


@dataclass
class PreparedCodec:
    """A codec with the packets of every image and their clean-channel scores."""

    section: CodecSection
    codec: Codec
    streams: list[Bitstream]
    clean: list[ImageScores]
    clean_row: dict[str, float]
    byte_budgets: list[int] | None = None

    @cached_property
    def identity(self) -> dict[str, Any]:
        """The result files' identity columns of this codec, from ``Codec.describe()``."""
        return codec_identity(self.codec.describe())

    @property
    def payload_bytes(self) -> float:
        return sum(s.num_bytes for s in self.streams) / len(self.streams)

    @property
    def packets_per_image(self) -> float:
        return sum(len(s.packets) for s in self.streams) / len(self.streams)


def codec_identity(description: dict[str, Any]) -> dict[str, Any]:
    """Identity columns of a codec from its ``describe()``: ``codec_type`` (registry name),
    ``scheme``, ``codec_name`` (``model`` when the codec has one, else the codec name),
    ``source_coder``, ``rows_per_slice`` and ``ratio`` when described (empty / NaN otherwise), and
    ``codec_params``, the whole description as compact JSON."""
    return {
        "codec_type": description.get("codec", ""),
        "scheme": description.get("scheme", ""),
        "codec_name": description.get("model", description.get("codec", "")),
        "source_coder": description.get("coder", ""),
        "rows_per_slice": description.get("rows_per_slice", ""),
        "ratio": description.get("ratio", float("nan")),
        "codec_params": json.dumps(description, sort_keys=True, separators=(",", ":"), default=str),
    }


def byte_budgets(section: CodecSection, *, num_images: int, image_size: tuple[int, int],
                 matched: dict[str, list[Bitstream]]) -> list[int] | None:
    """Per-image byte budgets of a codec entry's ``rate`` (``None`` without one).

    ``bytes``: N for every image; ``bpp``: ⌊bpp·H·W/8⌋; ``match``: the payload of each image in the
    entry labelled ``match`` (its streams in ``matched``).
    """
    rate = section.rate
    if rate is None:
        return None
    if rate.bytes is not None:
        return [int(rate.bytes)] * num_images
    if rate.bpp is not None:
        return [max(1, int(rate.bpp * image_size[0] * image_size[1] / 8))] * num_images
    return [s.num_bytes for s in matched[rate.match]]


def load_scenario_teacher(spec: str, *, device: str = "cpu") -> torch.nn.Module:
    """The teacher of a scenario (a zoo name, ``GOSVAE_ZOO_PATH`` included, or a local
    transformers folder), frozen, on ``device``."""
    from gosvae.teachers import load_teacher

    return load_teacher(spec).to(device)


class Runner:
    """Runs the points of a scenario (see the module docstring).

    Parameters
    ----------
    loaded : LoadedScenario
        The validated scenario (:func:`~simulation.scenario.load_scenario`).
    reuse : bool
        Reuse the clean scores of images whose packets all arrived intact (default True);
        ``False`` turns every reuse off.
    reuse_repeats : bool
        With ``reuse``, also reuse repeated receptions and repeated decoded pixels
        (:class:`~simulation.receiver.Receiver`; default True).
    fast_teacher : bool
        Label with the teacher's fast inference copy (same labels to float32 rounding; default
        True); ``False``: the teacher's own ``predict``.
    device : str
        Device of the teacher and of the link ("cpu" by default); codecs decode on the CPU (their
        source decoding is numpy).
    batch_size : int
        Images per decoder / teacher forward pass. The default, 1, makes every image's pixels
        and scores independent of which images share its pass (float32 convolution kernels are
        chosen by batch shape, so a batch of 3 and three batches of 1 can differ in the last
        bits), so reuse of clean results and resumed runs give bit-identical tables; on a
        2-core CPU it is also as fast (256x512: decode 127 vs 137 ms, teacher 89 vs 121 ms per
        image at batch 1 vs 8). Larger batches pay off on a GPU.
    progress : bool | None
        Show tqdm bars; ``None``: only on a terminal.
    teacher_precision : str | None
        The precision the receiver's teacher runs in, as chosen for the run ("float32" or
        "int8"; a worker that cannot run int8 then stops with a one-line error); ``None``: the
        scenario's ``teacher_precision`` resolved on this machine
        (:func:`~simulation.receiver.teacher_precision_used`).
    """

    def __init__(
        self,
        loaded: LoadedScenario,
        *,
        reuse: bool = True,
        reuse_repeats: bool = True,
        fast_teacher: bool = True,
        device: str = "cpu",
        batch_size: int = DEFAULT_BATCH_SIZE,
        progress: bool | None = None,
        teacher_precision: str | None = None,
    ) -> None:
        self.loaded = loaded
        self.teacher_precision = teacher_precision
        self.scenario = loaded.scenario
        self.reuse = reuse
        self.reuse_repeats = reuse_repeats
        self.fast_teacher = fast_teacher
        self.device = device
        self.batch_size = int(batch_size)
        self.disable_progress = None if progress is None else not progress
        self.stage_seconds: dict[str, float] = {}
        self.counters = RunCounters()
        self.codecs: dict[str, PreparedCodec] = {}
        self._links: dict[str, Link] = {}
        self.images = self.labels = self.teacher_labels = torch.empty(0)
        self.teacher: torch.nn.Module | None = None
        self.receiver: Receiver | None = None
        self.label_mapping: LabelMapping | None = None

    @contextmanager
    def _stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.stage_seconds[name] = self.stage_seconds.get(name, 0.0) + time.perf_counter() - start

    # -----------------------------------------------------------------------------------------
    # preparation
    # -----------------------------------------------------------------------------------------
    @torch.no_grad()
    def prepare(self) -> None:
        """Load images, teacher and codecs; encode every image; score the clean packets."""
        from gosvae.datasets import build_dataset

        spec = self.scenario.dataset
        with self._stage("load_data"):
            dataset = build_dataset(
                name=spec.name, split=spec.split, root=spec.resolved_root, num_images=spec.num_images,
                size=tuple(spec.size) if spec.size else None, seed=spec.seed,
            )
            if len(dataset) == 0:
                raise UserError(f"{self.loaded.source}: dataset.num_images: the dataset gave no images")
            items = [dataset[i] for i in tqdm(range(len(dataset)), desc="images", leave=False, disable=self.disable_progress)]
            sizes = {tuple(img.shape[-2:]) for img, _ in items}
            if len(sizes) != 1:
                raise UserError(f"{self.loaded.source}: dataset.size: images have different sizes {sorted(sizes)}; set dataset.size")
            self.images = torch.stack([img for img, _ in items])  # CPU: the codecs run there
            self.labels = torch.stack([label.long() for _, label in items])
        with self._stage("load_models"):
            teacher = load_scenario_teacher(self.scenario.teacher, device=self.device)
            # Scores are computed in the dataset's label space; a teacher of another space is seen
            # through the declared mapping (a one-line error if none is declared).
            self.teacher, self.label_mapping = scoring_teacher(
                teacher, dataset_space=label_space_of(dataset_class_names(dataset)), mapping=self.scenario.label_mapping
            )
            codecs = {
                c.curve_label: build_codec(c.codec, c.params, where=f"codecs[{i}].params")
                for i, c in enumerate(self.scenario.codecs)
            }
        with self._stage("teacher_reference"):
            self.receiver = Receiver(self.teacher, images=self.images, labels=self.labels, device=self.device,
                                     batch_size=self.batch_size, reuse=self.reuse and self.reuse_repeats,
                                     fast_teacher=self.fast_teacher, int8=self.int8_calibration())
            self.teacher_labels = self.receiver.teacher_labels
        # entries matching another entry's payload come after the others (a match never chains)
        order = sorted(codecs, key=lambda label: self.loaded.codec(label).rate is not None and self.loaded.codec(label).rate.match is not None)
        for label in order:
            codec, section = codecs[label], self.loaded.codec(label)
            budgets = byte_budgets(section, num_images=len(self.images), image_size=self.image_size,
                                   matched={k: p.streams for k, p in self.codecs.items()})
            with self._stage("encode"):
                streams = []
                for start in range(0, len(self.images), self.batch_size):
                    chunk_budgets = budgets[start : start + self.batch_size] if budgets is not None else None
                    streams += codec.encode(self.images[start : start + self.batch_size], byte_budgets=chunk_budgets)
            clean = self._decode_and_score(label, codec, [s.packets for s in streams], list(range(len(streams))), stage="clean_")
            self.codecs[label] = PreparedCodec(section, codec, streams, clean, aggregate_scores(clean), budgets)
        self.codecs = {label: self.codecs[label] for label in codecs}  # scenario order

    def int8_calibration(self) -> Int8Calibration | None:
        """The int8 calibration the receiver's teacher uses, ``None`` for float32 (see ``teacher_precision``)."""
        used, note = teacher_precision_used(self.scenario.teacher_precision, device=self.device)
        wanted = self.teacher_precision or used
        if wanted == "int8" and used != "int8":
            raise UserError(f"this run's teacher runs in int8, which is not possible here ({note})")
        return zoo_int8_calibration(self.scenario.teacher) if wanted == "int8" else None

    @property
    def label_space_text(self) -> str:
        """The label space of the scores and the mapping that led there (result files)."""
        mapping = self.label_mapping
        if mapping is None:
            return ""
        if mapping.name == "identity":
            return f"{mapping.target.name} (identity)"
        return f"{mapping.target.name} ({mapping.source.name} → {mapping.target.name}, {mapping.name})"

    @property
    def image_size(self) -> tuple[int, int]:
        return int(self.images.shape[-2]), int(self.images.shape[-1])

    def teacher_reference(self) -> dict[str, float]:
        """The teacher on the original images (upper bound of every curve)."""
        from gosvae.metrics.segmentation import segmentation_scores

        return segmentation_scores([(self.teacher_labels, self.labels)], num_classes=self.teacher.num_classes)

    def clean_summary(self) -> dict[str, dict[str, float]]:
        """Per codec label: payload and clean-channel scores."""
        return {
            label: {"codec_name": p.identity["codec_name"], "codec_type": p.identity["codec_type"],
                    "scheme": p.identity["scheme"], "ratio": p.identity["ratio"], "describe": p.codec.describe(),
                    "byte_budgets": p.byte_budgets, "payload_bytes": p.payload_bytes,
                    "packets_per_image": p.packets_per_image, **p.clean_row}
            for label, p in self.codecs.items()
        }

    # -----------------------------------------------------------------------------------------
    # points
    # -----------------------------------------------------------------------------------------
    def link_for(self, point: SweepPoint) -> tuple[Link, str]:
        """The link (built once per distinct link + channel setting) and the channel model name."""
        from channels import build_channel

        overrides = point.overrides
        config = resolve_link(self.scenario.link, overrides)
        model, params = resolve_channel(self.scenario.channel.model, self.scenario.channel.params, overrides)
        key = json.dumps([config.model_dump(mode="json"), model, params], sort_keys=True, default=str)
        if key not in self._links:
            self._links[key] = Link(config, build_channel(model, params), device=self.device)
        return self._links[key], model

    def run_point(self, point: SweepPoint) -> dict[str, Any]:
        """Send every image of the point's codec through its link; one result row (see results.py)."""
        start = time.perf_counter()
        prepared = self.codecs[point.codec]
        link, channel_model = self.link_for(point)
        sent = [s.packets for s in prepared.streams]
        flat = [packet for packets in sent for packet in packets]
        link_start = time.perf_counter()
        received_flat, stats = link.transmit(flat, snr_db=point.snr_db, generator=point.generator(self.scenario.seed))
        link_seconds = time.perf_counter() - link_start
        self.stage_seconds["link"] = self.stage_seconds.get("link", 0.0) + link_seconds
        received, offset = [], 0
        for packets in sent:
            received.append(received_flat[offset : offset + len(packets)])
            offset += len(packets)
        intact = [got == packets for got, packets in zip(received, sent)]
        todo = [i for i, ok in enumerate(intact) if not (ok and self.reuse)]
        decode_start = time.perf_counter()
        scores: list[ImageScores] = list(prepared.clean)
        for i, score in zip(todo, self._decode_and_score(point.codec, prepared.codec, [received[i] for i in todo], todo, stage="")):
            scores[i] = score
        decode_seconds = time.perf_counter() - decode_start
        self._count(stats, reused=len(intact) - len(todo))
        n = len(sent)
        height, width = self.image_size
        row: dict[str, Any] = {
            "point": point.index,
            "key": point.key,
            "codec": point.codec,
            **prepared.identity,
            "channel": channel_model,
            **dict(point.values),
            "num_images": n,
            "payload_bytes": prepared.payload_bytes,
            "bpp": prepared.payload_bytes * 8.0 / (height * width),
            "packets_per_image": prepared.packets_per_image,
            "channel_uses_per_image": (stats.channel_uses + stats.pilot_uses) / n,  # data and pilot REs
            "raw_ber": stats.raw_ber,
            "ber": stats.ber,
            "packet_loss_rate": stats.packet_loss_rate,
            "packet_error_rate": stats.packet_error_rate,
            "images_intact": sum(intact) / n,
            **aggregate_scores(scores),
            "miou_gt_clean": prepared.clean_row["miou_gt"],
            "miou_teacher_clean": prepared.clean_row["miou_teacher"],
            "psnr_db_clean": prepared.clean_row["psnr_db"],
            "point_seed": point.seed(self.scenario.seed),
            "label_space": self.label_space_text,
            "link_seconds": link_seconds,
            "decode_seconds": decode_seconds,
            "wall_seconds": time.perf_counter() - start,
        }
        return row

    def _count(self, stats: LinkStats, *, reused: int) -> None:
        c = self.counters
        c.points += 1
        c.images_reused += reused
        for stage, seconds in stats.stage_seconds.items():
            c.link_stages[stage] = c.link_stages.get(stage, 0.0) + seconds

    def _decode_and_score(
        self, codec_label: str, codec: Codec, received: list[list[bytes | None]], indices: list[int], *, stage: str
    ) -> list[ImageScores]:
        """Decode ``received`` (the packets of images ``indices``) and score them (:meth:`Receiver.decode_and_score`)."""
        assert self.receiver is not None, "prepare() first"
        self.receiver.reuse = self.reuse and self.reuse_repeats  # benchmarks switch reuse off after prepare()
        bar = tqdm(total=len(indices), desc="decoding", unit="img", leave=False, disable=True if not indices else self.disable_progress)
        with torch.no_grad(), bar:
            out, work = self.receiver.decode_and_score(codec_label, codec, received, indices,
                                                       stage=lambda name: self._stage(stage + name), progress=bar.update)
        if not stage:
            self.counters.add_work(work)
        return out
