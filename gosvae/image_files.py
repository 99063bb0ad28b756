"""Image files to ``.gosv`` files and back: the transmitter and receiver of one real image.

``encode_image_file`` reads an image (any format Pillow reads; converted to RGB), pads it on the
right and bottom by edge replication to a multiple of the model's compression ratio, codes it with
a zoo codec and writes a ``.gosv`` container (see :mod:`gosvae.source_coding.container`) holding
the original size, the index-map shape and the slice packets. ``decode_image_file`` reads the
container, loads the codec named in it, decodes the index map (concealing damaged slices, never
raising on their contents), rebuilds the image, crops the padding and writes a PNG.

Example
-------
>>> encode_image_file("street.png", "street.gosv", model="gos-vae-star-r4")   # doctest: +SKIP
>>> decode_image_file("street.gosv", "street_rx.png")                          # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from gosvae.codec import VQVAECodec, load_codec
from gosvae.errors import UserError
from gosvae.source_coding.container import ContainerContents, read_container, write_container

__all__ = ["FileCodingReport", "decode_image_file", "encode_image_file", "read_image", "write_image"]


@dataclass(frozen=True)
class FileCodingReport:
    """What one call did: the index map (H', W') int64, sizes and the concealed fraction."""

    indices: np.ndarray
    image_size: tuple[int, int]
    file_bytes: int
    payload_bytes: int
    concealed_fraction: float = 0.0


def read_image(path: str | Path) -> torch.Tensor:
    """An image file as a (1, 3, H, W) float32 tensor in [0, 1]; one-line :class:`UserError` if unreadable."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such image file")
    try:
        with Image.open(path) as image:
            array = np.asarray(image.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as exc:
        raise UserError(f"{path}: not an image Pillow can read ({exc.__class__.__name__})") from None
    return torch.from_numpy(array.copy()).permute(2, 0, 1).unsqueeze(0).float() / 255.0


def write_image(image: torch.Tensor, path: str | Path) -> None:
    """Write a (3, H, W) or (1, 3, H, W) float image in [0, 1] as an 8-bit file (format from the suffix)."""
    array = (image.reshape(-1, *image.shape[-2:]).clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def _pad_to_multiple(image: torch.Tensor, multiple: int) -> torch.Tensor:
    height, width = image.shape[-2:]
    pad_h, pad_w = (-height) % multiple, (-width) % multiple
    return F.pad(image, (0, pad_w, 0, pad_h), mode="replicate") if pad_h or pad_w else image


def encode_image_file(
    image_path: str | Path,
    output_path: str | Path,
    *,
    model: str = "gos-vae-star-r4",
    coder: str = "range",
    rows_per_slice: int = 4,
) -> FileCodingReport:
    """Code the image at ``image_path`` with zoo codec ``model`` into the ``.gosv`` file ``output_path``."""
    image = read_image(image_path)
    codec = load_codec(model, coder=coder, rows_per_slice=rows_per_slice)
    height, width = image.shape[-2:]
    padded = _pad_to_multiple(image, codec.ratio)
    indices = codec.encode_indices(padded)[0].numpy()
    stream = codec.encode(padded)[0]
    contents = ContainerContents(model_id=model, image_size=(height, width), index_shape=indices.shape, packets=stream.packets)
    file_bytes = write_container(output_path, contents)
    return FileCodingReport(indices=indices, image_size=(height, width), file_bytes=file_bytes, payload_bytes=stream.num_bytes)


def decode_image_file(container_path: str | Path, output_path: str | Path) -> FileCodingReport:
    """Rebuild the image of the ``.gosv`` file ``container_path`` and write it to ``output_path``."""
    contents = read_container(container_path)
    codec: VQVAECodec = load_codec(contents.model_id)
    ratio = codec.ratio
    padded_size = (contents.index_shape[0] * ratio, contents.index_shape[1] * ratio)
    height, width = contents.image_size
    if height > padded_size[0] or width > padded_size[1]:
        raise UserError(
            f"{container_path}: image size {height}x{width} does not fit the index map "
            f"{contents.index_shape[0]}x{contents.index_shape[1]} of a ratio-{ratio} model"
        )
    decoded = codec.decode([contents.packets], image_size=padded_size)
    write_image(decoded.images[0, :, :height, :width], output_path)
    return FileCodingReport(
        indices=decoded.details[0].indices,
        image_size=(height, width),
        file_bytes=Path(container_path).stat().st_size,
        payload_bytes=sum(len(p) for p in contents.packets),
        concealed_fraction=decoded.concealed_fraction[0],
    )
