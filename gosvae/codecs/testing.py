"""Conformance kit for codecs: call :func:`check_codec` from your own tests.

It checks the rules of :mod:`gosvae.codecs.base` on a codec and raises
:class:`CodecConformanceError` (an ``AssertionError``) with a one-line reason at the first failed
check. The checks (names in :data:`CHECKS`, run in this order):

- ``describe``: ``describe()`` is a JSON-serialisable dict with ``codec`` and ``scheme``;
  ``size_multiple()`` is an int >= 1 that divides the image size.
- ``round_trip``: one :class:`~gosvae.codecs.base.Bitstream` per image; the clean decode gives
  ``(B, 3, H, W)`` finite floats in [0, 1], one ``concealed_fraction`` (all 0) and one ``failed``
  (all False) per image, and a mean PSNR >= ``min_psnr_db`` when given.
- ``payload``: every packet is ``bytes``; ``Bitstream.num_bytes`` equals the sum of the packet
  lengths; an image has at least one packet.
- ``packet_loss``: every subset of lost packets of the first image (exhaustive up to
  ``max_exhaustive_packets`` packets, else ``num_loss_patterns`` seeded random subsets plus
  none-lost, all-lost and each single loss) decodes to full-size images in [0, 1] without raising;
  losing every packet is reported (``concealed_fraction > 0`` or ``failed``).
- ``damage``: packets truncated, bit-flipped, replaced by garbage, emptied, or with bytes
  appended (``num_damage_trials`` seeded trials each) decode to full-size images without raising.
- ``determinism``: encoding twice gives the same packets, decoding twice (clean and lossy) the
  same images, and so does a second instance when a factory is given.
- ``global_rng``: encode and decode leave the global torch, numpy and ``random`` states unchanged.

Example
-------
>>> from gosvae.codecs import build_codec
>>> from gosvae.codecs.testing import check_codec
>>> images = torch.rand(2, 3, 32, 64, generator=torch.Generator().manual_seed(0))   # doctest: +SKIP
>>> check_codec(lambda: build_codec("jpeg", quality=50), images=images, min_psnr_db=20)  # doctest: +SKIP
['describe', 'round_trip', 'payload', 'packet_loss', 'damage', 'determinism', 'global_rng']
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Callable, Collection, Sequence
from typing import Any

import numpy as np
import torch

from gosvae.codecs.base import Bitstream, Codec

__all__ = ["CHECKS", "CodecConformanceError", "check_codec"]

CHECKS = ("describe", "round_trip", "payload", "packet_loss", "damage", "determinism", "global_rng")

Received = list["bytes | None"]


class CodecConformanceError(AssertionError):
    """A codec broke a rule of the contract; the message is one line: ``CHECK: reason``."""


class _Fail(Exception):
    pass


def check_codec(
    codec: Codec | Callable[[], Codec],
    *,
    images: torch.Tensor,
    checks: Collection[str] | None = None,
    min_psnr_db: float | None = None,
    byte_budgets: Sequence[int] | None = None,
    max_exhaustive_packets: int = 6,
    num_loss_patterns: int = 24,
    num_damage_trials: int = 4,
    seed: int = 0,
) -> list[str]:
    """Run the conformance checks on a codec (see the module docstring for the list).

    Input
    -----
    codec : Codec | callable
        A codec, or a factory returning a fresh one (also used to check that two instances agree).
    images : torch.Tensor
        (B, 3, H, W) float in [0, 1]; H and W multiples of the codec's ``size_multiple()``.
    checks : collection of str | None
        Names from :data:`CHECKS` to run; ``None`` runs all.
    min_psnr_db : float | None
        Quality floor of the clean round trip (mean PSNR over the images); ``None``: no floor.
    byte_budgets : sequence of int | None
        Passed to every ``encode`` call.
    max_exhaustive_packets, num_loss_patterns, num_damage_trials : int
        Sizes of the loss and damage checks.
    seed : int
        Seed of the loss patterns and damage (the kit's own generator, never the global one).

    Output
    ------
    list of str
        The names of the checks that ran (all passed). Raises :class:`CodecConformanceError`.
    """
    names = tuple(CHECKS if checks is None else checks)
    unknown = sorted(set(names) - set(CHECKS))
    if unknown:
        raise ValueError(f"unknown codec checks {unknown} (known: {', '.join(CHECKS)})")
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be (B, 3, H, W), got {tuple(images.shape)}")
    factory = codec if not isinstance(codec, Codec) else None
    instance = codec if isinstance(codec, Codec) else codec()
    if not isinstance(instance, Codec):
        raise TypeError(f"the factory returned {type(instance).__name__}, not a gosvae.codecs.base.Codec")
    ctx = _Context(instance, factory, images.detach().clone(), list(byte_budgets) if byte_budgets is not None else None,
                   min_psnr_db, max_exhaustive_packets, num_loss_patterns, num_damage_trials, seed)
    for name in names:
        try:
            _CHECK_FUNCTIONS[name](ctx)
        except _Fail as exc:
            raise CodecConformanceError(_one_line(f"{name}: {exc}")) from None
        except Exception as exc:  # noqa: BLE001 - a crash is a failed check
            raise CodecConformanceError(_one_line(f"{name}: raised {type(exc).__name__}: {exc}")) from exc
    return list(names)


def _one_line(text: str) -> str:
    return " ".join(text.split())


class _Context:
    def __init__(self, codec: Codec, factory: Callable[[], Codec] | None, images: torch.Tensor, budgets: list[int] | None,
                 min_psnr_db: float | None, max_exhaustive: int, num_patterns: int, num_trials: int, seed: int) -> None:
        self.codec, self.factory, self.images, self.budgets = codec, factory, images, budgets
        self.min_psnr_db, self.max_exhaustive, self.num_patterns, self.num_trials = min_psnr_db, max_exhaustive, num_patterns, num_trials
        self.seed = seed
        self.size = (int(images.shape[-2]), int(images.shape[-1]))
        self._streams: list[Bitstream] | None = None

    def encode(self, codec: Codec | None = None) -> list[Bitstream]:
        return (codec or self.codec).encode(self.images.clone(), byte_budgets=self.budgets)

    @property
    def streams(self) -> list[Bitstream]:
        if self._streams is None:
            self._streams = self.encode()
        return self._streams

    def decode(self, received: Sequence[Received], codec: Codec | None = None):
        out = (codec or self.codec).decode([list(r) for r in received], image_size=self.size)
        self.check_output(out, len(received), what="decode")
        return out

    def check_output(self, out: Any, count: int, *, what: str) -> None:
        x = out.images
        expected = (count, 3, *self.size)
        if not isinstance(x, torch.Tensor) or tuple(x.shape) != expected:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise _Fail(f"{what} gave images of shape {shape}, expected {expected}")
        if not x.is_floating_point():
            raise _Fail(f"{what} gave {x.dtype} images, expected a float dtype")
        if not bool(torch.isfinite(x).all()):
            raise _Fail(f"{what} gave non-finite pixels")
        low, high = float(x.min()), float(x.max())
        if low < 0.0 or high > 1.0:
            raise _Fail(f"{what} gave pixels in [{low:.4g}, {high:.4g}], expected within [0, 1]")
        if len(out.concealed_fraction) != count or len(out.failed) != count:
            raise _Fail(f"{what} gave {len(out.concealed_fraction)} concealed fractions and {len(out.failed)} "
                        f"failed flags for {count} images")


def _check_describe(ctx: _Context) -> None:
    info = ctx.codec.describe()
    if not isinstance(info, dict) or "codec" not in info or "scheme" not in info:
        raise _Fail(f"describe() must return a dict with 'codec' and 'scheme', got {info!r}")
    try:
        json.dumps(info)
    except (TypeError, ValueError) as exc:
        raise _Fail(f"describe() is not JSON-serialisable ({exc})") from None
    multiple = ctx.codec.size_multiple()
    if not isinstance(multiple, int) or multiple < 1:
        raise _Fail(f"size_multiple() must be an int >= 1, got {multiple!r}")
    if ctx.size[0] % multiple or ctx.size[1] % multiple:
        raise _Fail(f"the test images {ctx.size} are not multiples of size_multiple() = {multiple}; pass other images")


def _check_round_trip(ctx: _Context) -> None:
    streams = ctx.streams
    if not isinstance(streams, list) or len(streams) != len(ctx.images) or not all(isinstance(s, Bitstream) for s in streams):
        raise _Fail(f"encode must return a list of {len(ctx.images)} Bitstream, got {type(streams).__name__} "
                    f"of {len(streams) if hasattr(streams, '__len__') else '?'}")
    out = ctx.decode([s.packets for s in streams])
    if any(c != 0 for c in out.concealed_fraction) or any(out.failed):
        raise _Fail(f"the clean decode reports concealment {out.concealed_fraction} / failures {out.failed}, expected none")
    if ctx.min_psnr_db is not None:
        mse = ((out.images.double() - ctx.images.double()) ** 2).flatten(1).mean(dim=1)
        value = float((10 * torch.log10(1.0 / mse.clamp_min(1e-12))).mean())
        if value < ctx.min_psnr_db:
            raise _Fail(f"clean round trip PSNR {value:.2f} dB is below the floor {ctx.min_psnr_db} dB")


def _check_payload(ctx: _Context) -> None:
    for i, stream in enumerate(ctx.streams):
        if not stream.packets:
            raise _Fail(f"image {i} has no packets")
        bad = [type(p).__name__ for p in stream.packets if type(p) is not bytes]
        if bad:
            raise _Fail(f"image {i}: packets must be bytes, got {sorted(set(bad))}")
        total = sum(len(p) for p in stream.packets)
        if stream.num_bytes != total:
            raise _Fail(f"image {i}: Bitstream.num_bytes is {stream.num_bytes} but the packets hold {total} bytes")


def _loss_patterns(n: int, ctx: _Context) -> list[tuple[bool, ...]]:
    """``True`` = lost. Exhaustive for few packets, else none, all, each single loss and random subsets."""
    if n <= ctx.max_exhaustive:
        return list(itertools.product((False, True), repeat=n))
    rng = np.random.default_rng(ctx.seed)
    patterns = {tuple([False] * n), tuple([True] * n)}
    patterns |= {tuple(j == i for j in range(n)) for i in range(n)}
    for _ in range(ctx.num_patterns):
        patterns.add(tuple(bool(b) for b in rng.random(n) < rng.uniform(0.1, 0.9)))
    return sorted(patterns)


def _check_packet_loss(ctx: _Context) -> None:
    packets = ctx.streams[0].packets
    patterns = _loss_patterns(len(packets), ctx)
    for start in range(0, len(patterns), 16):
        chunk = patterns[start : start + 16]
        received = [[None if lost else p for p, lost in zip(packets, pattern)] for pattern in chunk]
        out = ctx.decode(received)
        for pattern, concealed, failed in zip(chunk, out.concealed_fraction, out.failed):
            if all(pattern) and not (concealed > 0 or failed):
                raise _Fail("losing every packet is reported as a clean decode (concealed_fraction 0, not failed)")


def _damaged(packets: list[bytes], rng: np.random.Generator, kind: str) -> Received:
    out: Received = []
    for p in packets:
        if kind == "truncate":
            out.append(p[: int(rng.integers(0, len(p) + 1))])
        elif kind == "bit_flips":
            data = bytearray(p)
            for _ in range(max(1, len(data) // 8)):
                if data:
                    data[int(rng.integers(len(data)))] ^= 1 << int(rng.integers(8))
            out.append(bytes(data))
        elif kind == "garbage":
            out.append(rng.bytes(len(p)))
        elif kind == "empty":
            out.append(b"")
        else:  # "appended"
            out.append(p + rng.bytes(int(rng.integers(1, 16))))
    return out


def _check_damage(ctx: _Context) -> None:
    rng = np.random.default_rng(ctx.seed + 1)
    packets = ctx.streams[0].packets
    for kind in ("truncate", "bit_flips", "garbage", "empty", "appended"):
        received = [_damaged(packets, rng, kind) for _ in range(ctx.num_trials)]
        try:
            ctx.decode(received)
        except _Fail as exc:
            raise _Fail(f"{kind} packets: {exc}") from None
        except Exception as exc:  # noqa: BLE001
            raise _Fail(f"{kind} packets: decode raised {type(exc).__name__}: {exc}") from None


def _lossy(packets: list[bytes]) -> Received:
    return [None if i % 2 else p for i, p in enumerate(packets)]


def _check_determinism(ctx: _Context) -> None:
    first, second = ctx.encode(), ctx.encode()
    if [s.packets for s in first] != [s.packets for s in second]:
        raise _Fail("encoding the same images twice gave different packets")
    for name, received in (("clean", [s.packets for s in first]), ("lossy", [_lossy(s.packets) for s in first])):
        a, b = ctx.decode(received).images, ctx.decode(received).images
        if not torch.equal(a, b):
            raise _Fail(f"decoding the same {name} packets twice gave different images (max diff {float((a - b).abs().max()):.3g})")
    if ctx.factory is not None:
        other = ctx.factory()
        if [s.packets for s in ctx.encode(other)] != [s.packets for s in first]:
            raise _Fail("a second instance from the factory encodes to different packets")
        if not torch.equal(ctx.decode([s.packets for s in first], other).images, ctx.decode([s.packets for s in first]).images):
            raise _Fail("a second instance from the factory decodes to different images")


def _global_states() -> dict[str, Any]:
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "random": random.getstate()}


def _same_states(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    changed = []
    if not torch.equal(a["torch"], b["torch"]):
        changed.append("torch")
    na, nb = a["numpy"], b["numpy"]
    if na[0] != nb[0] or not np.array_equal(na[1], nb[1]) or na[2:] != nb[2:]:
        changed.append("numpy")
    if a["random"] != b["random"]:
        changed.append("random")
    return changed


def _check_global_rng(ctx: _Context) -> None:
    for stage in ("encode", "decode"):
        before = _global_states()
        if stage == "encode":
            ctx.encode()
        else:
            ctx.decode([s.packets for s in ctx.streams])
            ctx.decode([_lossy(s.packets) for s in ctx.streams])
        changed = _same_states(before, _global_states())
        if changed:
            raise _Fail(f"{stage} changed the global {' and '.join(changed)} random state; use a seeded local generator")


_CHECK_FUNCTIONS: dict[str, Callable[[_Context], None]] = {
    "describe": _check_describe, "round_trip": _check_round_trip, "payload": _check_payload,
    "packet_loss": _check_packet_loss, "damage": _check_damage, "determinism": _check_determinism,
    "global_rng": _check_global_rng,
}

