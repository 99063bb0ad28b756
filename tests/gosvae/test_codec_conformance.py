"""The codec conformance kit: the vqvae codec passes it, and each deliberately broken codec fails
the one check it breaks, with a one-line reason."""

from __future__ import annotations

import random
from typing import Sequence

import numpy as np
import pytest
import torch

from gosvae.codecs import Bitstream, Codec, CodecParams, DecodedBatch
from gosvae.codecs.testing import CHECKS, CodecConformanceError, check_codec
from gosvae.codecs.vqvae import VQVAECodec
from gosvae.models import VQVAE

TINY = {"arch": "shallow", "ratio": 4, "codebook_size": 16, "embedding_dim": 8,
        "encoder_channels": [8, 8], "decoder_channels": [8, 8]}


def _images(batch: int = 2, height: int = 16, width: int = 32) -> torch.Tensor:
    return torch.rand(batch, 3, height, width, generator=torch.Generator().manual_seed(3))


def _tiny_vqvae(**params) -> VQVAECodec:
    state = torch.random.get_rng_state()
    torch.manual_seed(0)
    model = VQVAE(**TINY)
    torch.random.set_rng_state(state)  # the test does not depend on (or change) the global state
    model.quantizer.set_index_prior(torch.arange(1, 17))
    return VQVAECodec(model, name="tiny", **params)


@pytest.mark.parametrize("coder", ["range", "huffman", "fixed"])
def test_vqvae_codec_passes_every_check(coder):
    codec = _tiny_vqvae(coder=coder, rows_per_slice=1)
    assert check_codec(codec, images=_images(), num_damage_trials=2) == list(CHECKS)


def test_vqvae_many_slices_use_sampled_loss_patterns():
    codec = _tiny_vqvae(rows_per_slice=1)
    assert check_codec(codec, images=_images(1, 32, 32), checks=["packet_loss"], max_exhaustive_packets=4,
                       num_loss_patterns=5) == ["packet_loss"]


class RowsParams(CodecParams):
    rows: int = 4


class RowsCodec(Codec):
    """A correct toy codec: 8-bit pixels, one packet per ``rows`` pixel rows, lost rows grey."""

    Params = RowsParams
    codec_name = "rows"

    def encode(self, images: torch.Tensor, *, byte_budgets: Sequence[int] | None = None) -> list[Bitstream]:
        data = (images.clamp(0, 1) * 255).round().to(torch.uint8).numpy()
        rows = self.params.rows
        return [Bitstream([bytes(img[:, r : r + rows].tobytes()) for r in range(0, img.shape[1], rows)]) for img in data]

    def decode(self, received, *, image_size: tuple[int, int]) -> DecodedBatch:
        height, width = image_size
        rows = self.params.rows
        out = torch.full((len(received), 3, height, width), 0.5)
        concealed = []
        for i, packets in enumerate(received):
            lost = 0
            for j, r in enumerate(range(0, height, rows)):
                n = min(rows, height - r)
                packet = packets[j] if j < len(packets) else None
                if packet is None or len(packet) != 3 * n * width:
                    lost += 1
                    continue
                block = np.frombuffer(packet, dtype=np.uint8).reshape(3, n, width)
                out[i, :, r : r + n] = torch.from_numpy(block.astype(np.float32) / 255)
            concealed.append(lost / len(range(0, height, rows)))
        return DecodedBatch(out, concealed, failed=[c == 1.0 for c in concealed])


class WrongSize(RowsCodec):
    def decode(self, received, *, image_size):
        out = super().decode(received, image_size=image_size)
        out.images = out.images[..., :-1]
        return out


class OutOfRange(RowsCodec):
    def decode(self, received, *, image_size):
        out = super().decode(received, image_size=image_size)
        out.images = out.images * 2 - 0.5
        return out


class CrashOnLoss(RowsCodec):
    def decode(self, received, *, image_size):
        if any(p is None for packets in received for p in packets):
            raise IndexError("lost packet")
        return super().decode(received, image_size=image_size)


class CrashOnGarbage(RowsCodec):
    def decode(self, received, *, image_size):
        if any(p is not None and len(p) != 3 * 4 * image_size[1] for packets in received for p in packets):
            raise ValueError("bad length")
        return super().decode(received, image_size=image_size)


class SilentLoss(RowsCodec):
    def decode(self, received, *, image_size):
        out = super().decode(received, image_size=image_size)
        return DecodedBatch(out.images, [0.0] * len(received), failed=[False] * len(received))


class Nondeterministic(RowsCodec):
    calls = 0

    def encode(self, images, *, byte_budgets=None):
        type(self).calls += 1
        streams = super().encode(images)
        return [Bitstream(s.packets + [bytes([type(self).calls % 256])]) for s in streams]


class UsesGlobalRng(RowsCodec):
    def decode(self, received, *, image_size):
        out = super().decode(received, image_size=image_size)
        out.images = (out.images + 0 * torch.rand(1)).clamp(0, 1)
        return out


class LyingBitstream(Bitstream):
    @property
    def num_bytes(self) -> int:
        return sum(len(p) for p in self.packets) - 1


class PayloadLies(RowsCodec):
    def encode(self, images, *, byte_budgets=None):
        return [LyingBitstream(s.packets) for s in super().encode(images)]


class NotBytes(RowsCodec):
    def encode(self, images, *, byte_budgets=None):
        return [Bitstream([bytearray(p) for p in s.packets]) for s in super().encode(images)]


class BadDescribe(RowsCodec):
    def describe(self):
        return {"codec": "x", "scheme": "x", "weights": torch.zeros(1)}


def test_the_toy_codec_passes():
    assert check_codec(RowsCodec, images=_images(), min_psnr_db=40) == list(CHECKS)


@pytest.mark.parametrize(
    "codec, check, reason",
    [
        (WrongSize, "round_trip", r"^round_trip: decode gave images of shape \(2, 3, 16, 31\), expected \(2, 3, 16, 32\)$"),
        (OutOfRange, "round_trip", r"^round_trip: decode gave pixels in \[-0.5, 1.5\], expected within \[0, 1\]$"),
        (RowsCodec, "round_trip", r"^round_trip: clean round trip PSNR .* dB is below the floor 99 dB$"),
        (CrashOnLoss, "packet_loss", r"^packet_loss: raised IndexError: lost packet$"),
        (SilentLoss, "packet_loss", r"^packet_loss: losing every packet is reported as a clean decode"),
        (CrashOnGarbage, "damage", r"^damage: truncate packets: decode raised ValueError: bad length$"),
        (Nondeterministic, "determinism", r"^determinism: encoding the same images twice gave different packets$"),
        (UsesGlobalRng, "global_rng", r"^global_rng: decode changed the global torch random state"),
        (PayloadLies, "payload", r"^payload: image 0: Bitstream.num_bytes is 1535 but the packets hold 1536 bytes$"),
        (NotBytes, "payload", r"^payload: image 0: packets must be bytes, got \['bytearray'\]$"),
        (BadDescribe, "describe", r"^describe: describe\(\) is not JSON-serialisable"),
    ],
)
def test_each_broken_codec_fails_its_check_with_a_one_line_reason(codec, check, reason):
    floor = 99 if codec is RowsCodec else None
    with pytest.raises(CodecConformanceError, match=reason) as info:
        check_codec(codec, images=_images(), min_psnr_db=floor)
    assert "\n" not in str(info.value) and isinstance(info.value, AssertionError)
    # the same codec passes every check before the one it breaks
    earlier = CHECKS[: CHECKS.index(check)]
    if earlier:
        assert check_codec(codec, images=_images(), checks=earlier) == list(earlier)


def test_global_rng_check_leaves_the_states_alone_and_unknown_checks_are_refused():
    torch.manual_seed(5)
    np.random.seed(5)
    random.seed(5)
    before = (torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate())
    check_codec(RowsCodec(), images=_images(), checks=["global_rng", "determinism"])
    assert torch.equal(torch.get_rng_state(), before[0]) and np.array_equal(np.random.get_state()[1], before[1])
    assert random.getstate() == before[2]
    with pytest.raises(ValueError, match="unknown codec checks"):
        check_codec(RowsCodec(), images=_images(), checks=["nope"])
