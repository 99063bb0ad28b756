"""Pillow byte codecs (JPEG, JPEG 2000, WebP, AVIF): round trip, packetisation, loss, fuzz, rate control."""

from __future__ import annotations

import itertools
import struct

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from gosvae.codecs.pillow_codecs import AvifCodec, Jpeg2000Codec, JpegCodec, WebpCodec
from gosvae.codecs.pillow_packets import PACKET_HEADER_BYTES, pack_units, unpack_units
from gosvae.errors import UserError
from gosvae.registry import CODECS

ALL = [JpegCodec, Jpeg2000Codec, WebpCodec, AvifCodec]
LOW_HIGH = {JpegCodec: (20, 50, 90), Jpeg2000Codec: (22.0, 30.0, 40.0), WebpCodec: (20, 50, 90), AvifCodec: (20, 50, 80)}


def smooth_images(batch: int, height: int, width: int, seed: int = 0) -> torch.Tensor:
    """Seeded smooth noise + gradients + a little grain, (B, 3, H, W) in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(batch, 3, height // 8 + 1, width // 8 + 1, generator=g)
    x = torch.nn.functional.interpolate(coarse, size=(height, width), mode="bicubic", align_corners=False)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, height), torch.linspace(0, 1, width), indexing="ij")
    return (0.5 * x + 0.3 * xx + 0.2 * yy + 0.03 * torch.rand(batch, 3, height, width, generator=g)).clamp(0, 1)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(10 * torch.log10(1 / ((a - b) ** 2).mean()))


@pytest.fixture(scope="module")
def images():
    return smooth_images(2, 64, 64)


def test_registered():
    for name, cls in [("jpeg", JpegCodec), ("jpeg2000", Jpeg2000Codec), ("webp", WebpCodec), ("avif", AvifCodec)]:
        assert CODECS.get(name) is cls and cls.codec_name == name


@pytest.mark.parametrize("cls", ALL)
def test_round_trip_psnr_increases_with_quality(cls, images):
    values = []
    for q in LOW_HIGH[cls]:
        codec = cls(quality=q)
        streams = codec.encode(images)
        out = codec.decode([s.packets for s in streams], image_size=(64, 64))
        assert out.images.shape == images.shape and out.images.dtype == torch.float32
        assert 0 <= out.images.min() and out.images.max() <= 1
        assert out.concealed_fraction == [0.0, 0.0] and out.failed == [False, False]
        values.append((sum(s.num_bytes for s in streams), psnr(out.images, images)))
    assert values[0][1] > 18 and values[-1][1] > 33
    assert all(b[0] > a[0] and b[1] > a[1] for a, b in zip(values, values[1:])), values


@pytest.mark.parametrize("cls", ALL)
@pytest.mark.parametrize("max_packet_bytes", [64, 1024])
def test_payload_accounting_and_determinism(cls, images, max_packet_bytes):
    codec = cls(max_packet_bytes=max_packet_bytes)
    streams = codec.encode(images)
    again = cls(max_packet_bytes=max_packet_bytes).encode(images)
    for s, t in zip(streams, again):
        assert s.packets == t.packets
        assert s.num_bytes == sum(len(p) for p in s.packets)
        assert all(isinstance(p, bytes) and 0 < len(p) <= max_packet_bytes for p in s.packets)
    received = [s.packets for s in streams]
    a = codec.decode(received, image_size=(64, 64))
    b = codec.decode(received, image_size=(64, 64))
    assert torch.equal(a.images, b.images)


def test_describe_and_params():
    d = JpegCodec(target_bpp=0.5).describe()
    assert d["codec"] == "jpeg" and d["scheme"] == "JPEG" and d["target_bpp"] == 0.5 and "packetisation" in d
    assert AvifCodec().describe()["quality"] == 60 and "BPG" in (AvifCodec.__doc__ or "")
    for bad in [dict(quality=0), dict(quality=101), dict(qualty=50), dict(target_bytes=100, target_bpp=0.1),
                dict(subsampling="4:1:1"), dict(max_packet_bytes=8)]:
        with pytest.raises((ValidationError, UserError)):  # the Codec constructor turns it into ConfigError
            JpegCodec(**bad)
    with pytest.raises((ValidationError, UserError)):
        Jpeg2000Codec(quality=5.0)


# --- packet framing -----------------------------------------------------------------------------

def test_pack_units_fragments_and_reassembles():
    rng = np.random.default_rng(0)
    units = [rng.bytes(int(n)) for n in rng.integers(1, 300, size=40)]
    packets = pack_units(units, max_packet_bytes=100, tag=7)
    assert all(len(p) <= 100 for p in packets)
    got = unpack_units(packets, num_units=len(units))
    assert got.units == dict(enumerate(units)) and got.majority_tag() == 7 and got.discarded == 0
    # without packet 3 every unit it carried (or a fragment of) is missing, nothing else
    lost = unpack_units([p if i != 3 else None for i, p in enumerate(packets)], num_units=len(units))
    _, first, count, _, _ = struct.unpack_from("!BHBBB", packets[3])
    assert set(range(len(units))) - set(lost.units) == set(range(first, first + count))


# --- JPEG restart intervals -----------------------------------------------------------------------

def _packet_units(packet: bytes) -> range:
    _, first, count, _, _ = struct.unpack_from("!BHBBB", packet)
    return range(first, first + count)


@pytest.mark.parametrize("subsampling, rows_per_unit, margin", [("4:4:4", 8, 0), ("4:2:0", 16, 1)])
def test_jpeg_lost_packet_damages_only_its_mcu_rows(subsampling, rows_per_unit, margin):
    """A lost packet changes only the rows of its restart intervals (with 4:2:0, plus the one row on
    each side that libjpeg-turbo's fancy chroma upsampling reads); every other row is bit-identical."""
    x = smooth_images(1, 96, 80, seed=3)
    codec = JpegCodec(quality=80, subsampling=subsampling, concealment="grey", max_packet_bytes=200)
    packets = codec.encode(x)[0].packets
    assert len(packets) >= 4
    clean = codec.decode([packets], image_size=(96, 80)).images[0]
    for k, packet in enumerate(packets):
        out = codec.decode([[p if i != k else None for i, p in enumerate(packets)]], image_size=(96, 80))
        units = _packet_units(packet)
        lo, hi = units.start * rows_per_unit, min(96, units.stop * rows_per_unit)
        changed = (out.images[0] != clean).any(dim=0).any(dim=1)
        outside = torch.ones(96, dtype=torch.bool)
        outside[max(0, lo - margin):hi + margin] = False
        assert not changed[outside].any(), (k, torch.where(changed)[0].tolist())
        assert changed[lo:hi].all()
        inner = out.images[0, :, lo + margin:hi - margin]
        assert torch.all(inner == 128 / 255)  # grey concealment: the lost intervals decode flat mid-grey
        assert out.concealed_fraction[0] == pytest.approx(len(units) / (96 // rows_per_unit)) and not out.failed[0]


def test_jpeg_interpolation_concealment_beats_grey():
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 96), torch.linspace(0, 1, 80), indexing="ij")
    x = torch.stack([0.2 + 0.6 * yy, 0.8 - 0.5 * xx, 0.3 + 0.3 * xx * yy])[None]  # smooth: interpolation fits
    packets = JpegCodec(quality=80, max_packet_bytes=64).encode(x)[0].packets
    lossy = [[p if i != 1 else None for i, p in enumerate(packets)]]
    grey = JpegCodec(quality=80, concealment="grey").decode(lossy, image_size=(96, 80)).images
    interp = JpegCodec(quality=80).decode(lossy, image_size=(96, 80)).images
    assert psnr(interp, x) > psnr(grey, x) + 6


# --- losses and damage: never raise, always full size -------------------------------------------

SMALL = {JpegCodec: dict(max_packet_bytes=96), Jpeg2000Codec: dict(tile_size=16, max_packet_bytes=96, quality=30.0),
         WebpCodec: dict(max_packet_bytes=64), AvifCodec: dict(max_packet_bytes=96)}


@pytest.mark.parametrize("cls", ALL)
def test_every_subset_of_lost_packets(cls):
    x = smooth_images(1, 32, 48, seed=1)
    codec = cls(**SMALL[cls])
    packets = codec.encode(x)[0].packets
    assert 2 <= len(packets) <= 9, len(packets)
    for lost in itertools.product([False, True], repeat=len(packets)):
        received = [None if gone else p for gone, p in zip(lost, packets)]
        out = codec.decode([received], image_size=(32, 48))
        assert out.images.shape == (1, 3, 32, 48)
        assert torch.isfinite(out.images).all() and 0 <= out.images.min() and out.images.max() <= 1
        assert 0.0 <= out.concealed_fraction[0] <= 1.0
        if all(lost):
            assert out.failed[0]
        if not any(lost):
            assert out.concealed_fraction[0] == 0.0 and not out.failed[0]


def _damage(packets: list[bytes], rng: np.random.Generator) -> list[bytes | None]:
    out: list[bytes | None] = list(packets)
    kind = rng.integers(0, 7)
    k = int(rng.integers(0, len(out)))
    p = bytearray(out[k])
    if kind == 0:  # bit flips
        for _ in range(int(rng.integers(1, 6))):
            i = int(rng.integers(0, len(p)))
            p[i] ^= 1 << int(rng.integers(0, 8))
        out[k] = bytes(p)
    elif kind == 1:  # truncation
        out[k] = bytes(p[: int(rng.integers(0, len(p)))])
    elif kind == 2:  # empty
        out[k] = b""
    elif kind == 3:  # random bytes
        out[k] = rng.bytes(int(rng.integers(1, 200)))
    elif kind == 4:  # reordered
        rng.shuffle(out)
    elif kind == 5:  # header bytes damaged
        p[: min(len(p), 6)] = rng.bytes(min(len(p), 6))
        out[k] = bytes(p)
    else:  # loss and duplication
        out[k] = None
        out[int(rng.integers(0, len(out)))] = packets[0]
    return out


@pytest.mark.parametrize("cls", ALL)
def test_random_damage_fuzz(cls):
    x = smooth_images(1, 32, 48, seed=2)
    codec = cls(**SMALL[cls])
    packets = codec.encode(x)[0].packets
    rng = np.random.default_rng(1234)
    for _ in range(80):
        out = codec.decode([_damage(packets, rng)], image_size=(32, 48))
        assert out.images.shape == (1, 3, 32, 48)
        assert torch.isfinite(out.images).all() and 0 <= out.images.min() and out.images.max() <= 1
        assert len(out.failed) == 1 and 0.0 <= out.concealed_fraction[0] <= 1.0


@pytest.mark.parametrize("cls", ALL)
def test_wrong_size_and_garbage_are_failures(cls):
    x = smooth_images(1, 32, 48)
    codec = cls(**SMALL[cls])
    packets = codec.encode(x)[0].packets
    big = codec.decode([packets], image_size=(480, 640))  # declared size != expected: no decode at all
    assert big.images.shape == (1, 3, 480, 640)
    garbage = codec.decode([[b"\x00" * 50, b"", None]], image_size=(32, 48))
    assert garbage.failed == [True] and torch.all(garbage.images == 128 / 255)
    none = codec.decode([[]], image_size=(32, 48))
    assert none.failed == [True]


# --- rate control --------------------------------------------------------------------------------

@pytest.mark.parametrize("cls", ALL)
def test_byte_target_bisection(cls):
    x = smooth_images(2, 64, 64, seed=5)
    codec = cls(target_bytes=1500)
    streams = codec.encode(x)
    misses = 0
    for s, res in zip(streams, codec.last_rate_control):
        assert res is not None and res.num_bytes == s.num_bytes
        assert s.num_bytes <= 1500 or res.overshoot
        if not 0.97 * 1500 <= s.num_bytes <= 1500:
            misses += 1
            assert not res.met
    assert codec.rate_control_misses == misses and codec.rate_control_calls == 2


def test_byte_budgets_win_and_misses_are_counted():
    x = smooth_images(2, 64, 64, seed=6)
    codec = JpegCodec(target_bytes=4000)
    streams = codec.encode(x, byte_budgets=[400, 20])
    assert 0.97 * 400 <= streams[0].num_bytes <= 400
    assert streams[1].num_bytes > 20  # even quality 1 overshoots 20 bytes: smallest possible, a miss
    assert codec.last_rate_control[1].quality == 1 and codec.rate_control_misses == 1
    bpp = JpegCodec(target_bpp=0.8).encode(x)
    assert all(0.97 * 409 <= s.num_bytes <= 409 for s in bpp)


@pytest.mark.parametrize("cls", ALL)
def test_conformance_kit(cls):
    testing = pytest.importorskip("gosvae.codecs.testing")
    x = smooth_images(2, 32, 48, seed=7)
    testing.check_codec(lambda: cls(**SMALL[cls]), images=x, min_psnr_db=20)
