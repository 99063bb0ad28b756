"""Shared machinery of the Pillow byte codecs (JPEG, JPEG 2000, WebP, AVIF).

- tensor ↔ uint8 conversion (``round(x * 255)``, RGB);
- :class:`PillowParams`: quality, optional per-image rate target, packet size limit;
- :class:`PillowCodec`: the encode loop with rate control (bisection on quality,
  :mod:`gosvae.codecs.rate_control`; a per-image ``byte_budgets`` entry wins over the parameters)
  and the decode loop that never raises (anything unexpected → mid-grey, ``failed=True``).

Subclasses implement ``_encode_image(array, quality) -> list[bytes]`` and
``_decode_image(packets, height, width) -> ImageDecode``.
"""

from __future__ import annotations

import io
import threading
from abc import abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Sequence

import numpy as np
import torch
from PIL import Image, ImageFile
from pydantic import Field, model_validator

from gosvae.codecs.base import Bitstream, Codec, CodecParams, DecodedBatch, ReceivedPackets
from gosvae.codecs.rate_control import RateControlResult, bisect_quality
from gosvae.errors import UserError

__all__ = ["ImageDecode", "PillowCodec", "PillowParams", "grey_image", "open_checked", "to_uint8", "to_tensor"]

MID_GREY = 128


def to_uint8(images: torch.Tensor) -> list[np.ndarray]:
    """(B, 3, H, W) float in [0, 1] → list of (H, W, 3) uint8 arrays, ``round(x * 255)``."""
    if images.ndim != 4 or images.shape[1] != 3:
        raise UserError(f"byte codecs take RGB images (B, 3, H, W), got shape {tuple(images.shape)}")
    x = (images.detach().to(torch.float32).clamp(0.0, 1.0) * 255.0).round().to(torch.uint8)
    return [np.ascontiguousarray(a) for a in x.permute(0, 2, 3, 1).cpu().numpy()]


def to_tensor(arrays: Sequence[np.ndarray]) -> torch.Tensor:
    """list of (H, W, 3) uint8 → (B, 3, H, W) float32 in [0, 1]."""
    stacked = np.stack([np.asarray(a, dtype=np.uint8) for a in arrays])
    return torch.from_numpy(stacked).permute(0, 3, 1, 2).to(torch.float32).div_(255.0).contiguous()


def grey_image(height: int, width: int) -> np.ndarray:
    """Mid-grey (H, W, 3) uint8 fallback image."""
    return np.full((height, width, 3), MID_GREY, dtype=np.uint8)


_TRUNCATED_LOCK = threading.Lock()


def open_checked(data: bytes, *, height: int, width: int, allow_truncated: bool = False) -> np.ndarray:
    """Decode ``data`` with Pillow to (H, W, 3) uint8, refusing any other declared size.

    The declared size is read from the header *before* the pixels are decoded, so a damaged
    header cannot make us allocate a huge image (decompression bomb). ``allow_truncated`` sets
    Pillow's global ``ImageFile.LOAD_TRUNCATED_IMAGES`` for this call only (under a lock, and
    restored afterwards). Raises on any failure: the callers turn that into a fallback.
    """
    with Image.open(io.BytesIO(data)) as im:
        if im.size != (width, height):
            raise ValueError(f"declared size {im.size} != expected {(width, height)}")
        if allow_truncated:
            with _TRUNCATED_LOCK:
                previous = ImageFile.LOAD_TRUNCATED_IMAGES
                ImageFile.LOAD_TRUNCATED_IMAGES = True
                try:
                    im.load()
                finally:
                    ImageFile.LOAD_TRUNCATED_IMAGES = previous
        else:
            im.load()
        array = np.asarray(im.convert("RGB"), dtype=np.uint8)
    if array.shape != (height, width, 3):
        raise ValueError(f"decoded shape {array.shape} != expected {(height, width, 3)}")
    return array


@dataclass
class ImageDecode:
    """One image's decode: pixels, fraction of units concealed, failure flag, details."""

    image: np.ndarray
    concealed_fraction: float
    failed: bool = False
    details: dict[str, Any] = field(default_factory=dict)


class PillowParams(CodecParams):
    """Parameters shared by the Pillow codecs (each codec narrows ``quality``).

    Attributes
    ----------
    target_bytes : int | None
        Per-image payload target (all packets, headers included); bisection on quality.
    target_bpp : float | None
        Per-image target in bits per pixel (``target_bytes = floor(bpp * H * W / 8)``).
    max_packet_bytes : int
        Largest packet the codec emits (default 1024).
    """

    target_bytes: int | None = Field(None, gt=0)
    target_bpp: float | None = Field(None, gt=0)
    max_packet_bytes: int = Field(1024, ge=32, le=65535)

    @model_validator(mode="after")
    def _one_target(self) -> "PillowParams":
        if self.target_bytes is not None and self.target_bpp is not None:
            raise ValueError("give at most one of target_bytes and target_bpp")
        return self


class PillowCodec(Codec):
    """Base of the Pillow codecs: rate control in :meth:`encode`, a never-raising :meth:`decode`.

    After each :meth:`encode`, ``last_rate_control`` holds one :class:`RateControlResult` per
    image (``None`` where no target applied); ``rate_control_misses`` / ``rate_control_calls``
    count, over the codec's life, the rate-controlled images that missed the 3 % window.
    """

    Params: ClassVar[type[CodecParams]] = PillowParams
    scheme: ClassVar[str] = ""
    quality_range: ClassVar[tuple[float, float]] = (1, 100)
    integer_quality: ClassVar[bool] = True
    packetisation: ClassVar[str] = ""

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.last_rate_control: list[RateControlResult | None] = []
        self.rate_control_misses = 0
        self.rate_control_calls = 0

    # -- subclass hooks ---------------------------------------------------------------------
    @abstractmethod
    def _encode_image(self, array: np.ndarray, quality: float) -> list[bytes]:
        """(H, W, 3) uint8 → packets at ``quality``."""

    @abstractmethod
    def _decode_image(self, packets: ReceivedPackets, height: int, width: int) -> ImageDecode:
        """Received packets → :class:`ImageDecode` (may raise: :meth:`decode` catches)."""

    # -- contract ---------------------------------------------------------------------------
    def _target(self, index: int, height: int, width: int, byte_budgets: Sequence[int] | None) -> int | None:
        if byte_budgets is not None and byte_budgets[index] is not None:
            return int(byte_budgets[index])
        if self.params.target_bytes is not None:
            return int(self.params.target_bytes)
        if self.params.target_bpp is not None:
            return max(1, int(self.params.target_bpp * height * width / 8))
        return None

    def encode(self, images: torch.Tensor, *, byte_budgets: Sequence[int] | None = None) -> list[Bitstream]:
        """Input: images (B, 3, H, W) float in [0, 1]; optional per-image byte budgets (win over
        ``target_bytes``/``target_bpp``). Output: one :class:`Bitstream` per image."""
        arrays = to_uint8(images)
        if byte_budgets is not None and len(byte_budgets) != len(arrays):
            raise UserError(f"byte_budgets has {len(byte_budgets)} entries for {len(arrays)} images")
        streams: list[Bitstream] = []
        self.last_rate_control = []
        for i, array in enumerate(arrays):
            target = self._target(i, array.shape[0], array.shape[1], byte_budgets)
            if target is None:
                streams.append(Bitstream(self._encode_image(array, self.params.quality)))
                self.last_rate_control.append(None)
                continue
            res = bisect_quality(
                lambda q, a=array: self._encode_image(a, q),
                target_bytes=target,
                quality_range=self.quality_range,
                integer=self.integer_quality,
                size_of=lambda packets: sum(len(p) for p in packets),
            )
            self.rate_control_calls += 1
            self.rate_control_misses += int(not res.met)
            self.last_rate_control.append(res)
            streams.append(Bitstream(list(res.payload)))
        return streams

    def decode(self, received: Sequence[ReceivedPackets], *, image_size: tuple[int, int]) -> DecodedBatch:
        """Input: per image the received packets (``bytes`` or ``None``), ``image_size`` (H, W).
        Output: :class:`DecodedBatch`, (B, 3, H, W) float32; never raises on damaged data."""
        height, width = int(image_size[0]), int(image_size[1])
        outs: list[ImageDecode] = []
        for packets in received:
            try:
                out = self._decode_image(list(packets), height, width)
            except Exception as exc:  # safety net: a damaged stream must never stop a simulation
                out = ImageDecode(grey_image(height, width), 1.0, True, {"error": type(exc).__name__})
            outs.append(out)
        images = to_tensor([o.image for o in outs]) if outs else torch.zeros(0, 3, height, width)
        return DecodedBatch(images=images, concealed_fraction=[o.concealed_fraction for o in outs],
                            failed=[o.failed for o in outs], details=[o.details for o in outs])

    def describe(self) -> dict[str, Any]:
        """Identity for result files: codec, scheme, quality or rate target, packetisation, params."""
        p = self.params
        out: dict[str, Any] = {"codec": self.codec_name, "scheme": self.scheme}
        if p.target_bytes is not None:
            out["target_bytes"] = p.target_bytes
        elif p.target_bpp is not None:
            out["target_bpp"] = p.target_bpp
        else:
            out["quality"] = p.quality
        out["rate_control"] = (f"bisection on quality in {list(self.quality_range)} to the largest stream <= "
                               "byte target (byte_budgets or target_bytes/target_bpp), 3 % window")
        out["packetisation"] = self.packetisation
        out.update({k: v for k, v in p.model_dump(mode="json").items() if k not in out})
        return out
