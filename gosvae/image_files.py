"""Image files to ``.gosv`` files and back, with any registered codec: one real image's transmitter and receiver.

``encode_image_file`` reads an image (any format Pillow reads; converted to RGB), pads it on the
right and bottom by edge replication to a multiple of the codec's ``size_multiple()``, codes it
with ``codec.encode`` and writes a ``.gosv`` container (see :mod:`gosvae.source_coding.container`)
holding the codec spec (registry name and every validated parameter), the original and the coded
size, and the packets as sent. ``decode_image_file`` reads the container, checks the spec, builds
the codec, decodes the packets with ``codec.decode`` (which conceals damage and never raises on
packet contents), crops the padding and writes the image. Only the codec contract is used
(``build_codec``, ``size_multiple``, ``encode``, ``decode``, ``describe``), so every codec works.

A ``.gosv`` file may come from anyone, so its spec is untrusted: the codec must be registered,
every model parameter (``model`` and ``*_model``) must be a plain zoo name matching
:data:`MODEL_NAME_PATTERN` (looked up in the zoo folders only, never as a path), and the
parameters are validated by the codec's ``Params`` before anything is built. Encoding with a model
*folder path* (your own choice) is allowed: the file stores that path as given, and decoding it
needs ``allow_model_paths=True`` (``gosvae decode --allow-model-paths``); the encode report lists
such paths in ``model_paths``.

Example
-------
>>> encode_image_file("street.png", "street.gosv", codec_spec="jpeg:quality=30")   # doctest: +SKIP
>>> encode_image_file("street.png", "street.gosv", model="gos-vae-star-r4")       # doctest: +SKIP
>>> report = decode_image_file("street.gosv", "street_rx.png")                     # doctest: +SKIP
>>> report.codec_spec, report.bpp, report.concealed_fraction                       # doctest: +SKIP
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from gosvae.codecs import build_codec, codec_class, parse_codec_spec, validate_codec_params
from gosvae.codecs.base import CodecParams
from gosvae.errors import UserError
from gosvae.source_coding.container import (
    CONTAINER_VERSION, MAX_SIDE, MAX_SPEC_BYTES, ContainerContents, MalformedContainerError, read_container, write_container,
)

__all__ = [
    "DEFAULT_MODEL", "MODEL_NAME_PATTERN", "FileCodingReport", "check_output_path", "checked_codec_spec",
    "decode_image_file", "encode_image_file", "format_codec_spec", "read_image", "write_image",
]

#: ``vqvae`` model of ``encode_image_file`` without a codec spec.
DEFAULT_MODEL = "gos-vae-star-r4"
#: What a model parameter of an untrusted (read from a file) codec spec must look like.
MODEL_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


@dataclass(frozen=True)
class FileCodingReport:
    """What one call did.

    Attributes
    ----------
    codec_spec : str
        The spec stored in the file (``NAME:KEY=VALUE,...``).
    image_size, coded_size : tuple[int, int]
        ``(H, W)`` of the image and of the padded image the codec coded.
    file_bytes, payload_bytes : int
        Size of the ``.gosv`` file and of its packets.
    concealed_fraction : float
        Fraction of the transmitted units concealed (decode; 0.0 for a clean file).
    failed : bool
        True when the decoded image is the codec's fallback (nothing usable decoded).
    description : dict
        ``codec.describe()``.
    details : Any
        The codec's own decoding report of the image (decode only), e.g. the ``vqvae`` index map.
    model_paths : tuple[str, ...]
        Model parameters of the spec that are paths, not zoo names (decoding needs ``allow_model_paths``).
    damaged_packets : tuple[int, ...]
        Decode: the packets that failed their checksum in the file (decoded as lost, i.e. concealed).
    num_packets : int
        Packets in the file.
    format_version : int
        The ``.gosv`` format version; below 3 the file has no checksums (damage may go unnoticed).
    """

    codec_spec: str
    image_size: tuple[int, int]
    coded_size: tuple[int, int]
    file_bytes: int
    payload_bytes: int
    concealed_fraction: float = 0.0
    failed: bool = False
    description: dict[str, Any] = field(default_factory=dict)
    details: Any = None
    model_paths: tuple[str, ...] = ()
    damaged_packets: tuple[int, ...] = ()
    num_packets: int = 0
    format_version: int = CONTAINER_VERSION

    @property
    def bpp(self) -> float:
        """Payload bits per pixel of the original image."""
        return 8 * self.payload_bytes / (self.image_size[0] * self.image_size[1])


def read_image(path: str | Path, *, max_side: int | None = None) -> torch.Tensor:
    """An image file as a (1, 3, H, W) float32 tensor in [0, 1]; one-line :class:`UserError` if
    unreadable or (with ``max_side``) larger than ``max_side`` per side (checked before decoding)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such image file")
    try:
        with Image.open(path) as image:
            if max_side is not None and max(image.size) > max_side:
                raise UserError(f"{path}: {image.size[1]}x{image.size[0]} image, at most {max_side} pixels per side")
            array = np.asarray(image.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise UserError(f"{path}: not an image Pillow can read ({exc.__class__.__name__})") from None
    return torch.from_numpy(array.copy()).permute(2, 0, 1).unsqueeze(0).float() / 255.0


def check_output_path(path: str | Path, *, image: bool) -> None:
    """One-line :class:`UserError` unless ``path`` can be written: not an existing folder, no file
    above it, and (``image=True``) a suffix Pillow can save (``.png``, ``.jpg``, ...)."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"-o {path}: is a folder, expected a file name")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if parent.exists() and not parent.is_dir():
        raise UserError(f"-o {path}: {parent} is a file, not a folder")
    if image:
        Image.init()
        fmt = Image.registered_extensions().get(path.suffix.lower())
        if fmt is None or fmt not in Image.SAVE:
            raise UserError(f"-o {path}: unknown image extension {path.suffix or '(none)'!r}, use e.g. .png")


def write_image(image: torch.Tensor, path: str | Path) -> None:
    """Write a (3, H, W) or (1, 3, H, W) float image in [0, 1] as an 8-bit file (format from the
    suffix); one-line :class:`UserError` if the path cannot be written."""
    check_output_path(path, image=True)
    array = (image.reshape(-1, *image.shape[-2:]).clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(array).save(path)
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: cannot write image ({exc})") from None


def _pad_to_multiple(image: torch.Tensor, multiple: int) -> torch.Tensor:
    height, width = image.shape[-2:]
    pad_h, pad_w = (-height) % multiple, (-width) % multiple
    return F.pad(image, (0, pad_w, 0, pad_h), mode="replicate") if pad_h or pad_w else image


def _names_model(key: str) -> bool:
    return key == "model" or key.endswith("_model")


def _is_plain_model_name(value: Any) -> bool:
    """A zoo name that cannot be taken for a path (see :data:`MODEL_NAME_PATTERN`)."""
    from gosvae.zoo import is_model_path

    return isinstance(value, str) and MODEL_NAME_PATTERN.fullmatch(value) is not None and not is_model_path(value)


def _spec_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (int, float, str)):
        return str(value)
    raise UserError(f"a {type(value).__name__} value")


def format_codec_spec(name: str, params: CodecParams) -> str:
    """The spec ``NAME:KEY=VALUE,...`` of codec ``name`` with its validated ``params`` (every
    parameter, ``None`` ones left out where ``None`` is the default), as stored in a ``.gosv`` file.

    Output: a spec that :func:`~gosvae.codecs.parse_codec_spec` reads back to the same parameters.
    Raises a one-line :class:`UserError` when it would not (a value holding ``,``, a string that
    reads back as a number, bool or null, a list) or is longer than 1024 bytes or not printable ASCII.

    Example
    -------
    >>> format_codec_spec("jpeg", validate_codec_params("jpeg", {"quality": 30}))   # doctest: +SKIP
    'jpeg:max_packet_bytes=1024,quality=30,subsampling=4:2:0,restart_rows=1,concealment=interpolate'
    """
    fields = type(params).model_fields
    values = {k: v for k, v in params.model_dump(mode="json").items() if not (v is None and fields[k].default is None)}
    items = []
    for key, value in values.items():
        try:
            items.append(f"{key}={_spec_value(value)}")
        except UserError as exc:
            raise UserError(f"codec {name}: parameter {key}={value!r} cannot be written into a .gosv codec spec ({exc})") from None
    spec = f"{name}:{','.join(items)}" if items else name
    parsed: dict[str, Any] = {}
    try:
        parsed_name, parsed = parse_codec_spec(spec)
        same = parsed_name == name and validate_codec_params(name, parsed) == params
    except UserError:
        same = False
    if not same:
        changed = [k for k, v in values.items() if ("," in str(v) if not parsed else parsed.get(k) != v)]
        raise UserError(f"codec {name}: parameters {', '.join(changed) or 'name'} cannot be written into a .gosv codec "
                        "spec (a value holds ',' or reads back as another type)")
    if len(spec) > MAX_SPEC_BYTES or not all(" " <= c <= "~" for c in spec):
        raise UserError(f"codec {name}: its spec must be at most {MAX_SPEC_BYTES} bytes of printable ASCII to fit a "
                        f".gosv file, got {len(spec)} characters: {spec[:80]!r}")
    return spec


def checked_codec_spec(spec: str, *, source: str, allow_model_paths: bool = False) -> tuple[str, dict[str, Any]]:
    """Check an untrusted codec spec read from the file ``source`` before anything is built.

    Input: ``spec`` ``NAME:KEY=VALUE,...``; ``allow_model_paths`` lets model parameters be paths.
    Output: ``(name, params)`` for :func:`~gosvae.codecs.build_codec`. Raises
    :class:`MalformedContainerError` (one line naming ``source``) when the spec does not parse, the
    codec is not registered, a model parameter is not a plain zoo name (:data:`MODEL_NAME_PATTERN`;
    a path, or a name that is also a file or folder here) or a parameter is invalid.
    """
    try:
        name, params = parse_codec_spec(spec)
        codec_class(name)
        for key, value in params.items():
            if _names_model(key) and not allow_model_paths and not _is_plain_model_name(value):
                raise UserError(f"codec spec parameter {key}={str(value)[:120]!r} is not a zoo model name "
                                "(letters, digits, '.', '_', '-'; no path, nor a file or folder of the current "
                                "folder); decode with --allow-model-paths only if you trust the file")
        validate_codec_params(name, params, where="codec spec")
    except MalformedContainerError:
        raise
    except UserError as exc:
        raise MalformedContainerError(f"{source}: {exc}") from None
    return name, params


def _codec_request(codec_spec: str | None, shorthand: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    given = {k: v for k, v in shorthand.items() if v is not None}
    if codec_spec is None:
        return "vqvae", {"model": DEFAULT_MODEL, **given}
    name, params = parse_codec_spec(codec_spec)
    if name != "vqvae" and given:
        raise UserError(f"codec {codec_spec!r}: {'/'.join(given)} (model, coder, rows_per_slice) belong to the vqvae "
                        "codec only; put the codec's own parameters into the spec")
    if name == "vqvae":
        params = {"model": DEFAULT_MODEL, **given, **params}
    return name, params


def encode_image_file(
    image_path: str | Path,
    output_path: str | Path,
    *,
    codec_spec: str | None = None,
    model: str | None = None,
    coder: str | None = None,
    rows_per_slice: int | None = None,
) -> FileCodingReport:
    """Code the image at ``image_path`` into the ``.gosv`` file ``output_path``.

    Parameters
    ----------
    image_path, output_path : str | Path
        Input image (any format Pillow reads) and the file to write.
    codec_spec : str | None
        Any registered codec, ``NAME:KEY=VALUE,...`` (``jpeg:quality=30``,
        ``vqvae:model=gos-vae-star-r4,coder=huffman``); default ``vqvae`` with :data:`DEFAULT_MODEL`.
    model, coder, rows_per_slice : optional
        ``vqvae`` shorthand (a zoo name or model folder, the index coder, index rows per packet);
        with a ``vqvae`` spec they fill the keys it does not set; with another codec an error.

    Returns
    -------
    FileCodingReport
        ``model_paths`` lists model parameters given as paths (decoding needs ``allow_model_paths``).

    Raises
    ------
    UserError
        One line: unreadable image, bad spec or parameter, unwritable ``output_path``, image too large.
    """
    name, params = _codec_request(codec_spec, {"model": model, "coder": coder, "rows_per_slice": rows_per_slice})
    where = f"codec {codec_spec!r}" if codec_spec else "codec"
    codec = build_codec(name, params, where=where)
    spec = format_codec_spec(name, codec.params)
    check_output_path(output_path, image=False)
    image = read_image(image_path, max_side=MAX_SIDE)
    height, width = image.shape[-2:]
    multiple = codec.size_multiple()
    padded = _pad_to_multiple(image, multiple)
    coded = tuple(padded.shape[-2:])
    if max(coded) > MAX_SIDE:
        raise UserError(f"{image_path}: padded to {coded[0]}x{coded[1]}, more than {MAX_SIDE} pixels per side")
    stream = codec.encode(padded)[0]
    try:
        contents = ContainerContents(codec_spec=spec, image_size=(height, width), coded_size=coded, packets=stream.packets)
    except UserError as exc:
        raise UserError(f"{output_path}: {exc}") from None
    file_bytes = write_container(output_path, contents)
    model_paths = tuple(str(v) for k, v in codec.params.model_dump().items() if _names_model(k) and not _is_plain_model_name(v))
    return FileCodingReport(codec_spec=spec, image_size=(height, width), coded_size=coded, file_bytes=file_bytes,
                            payload_bytes=stream.num_bytes, description=codec.describe(), model_paths=model_paths,
                            num_packets=len(stream.packets))


def decode_image_file(container_path: str | Path, output_path: str | Path, *, allow_model_paths: bool = False) -> FileCodingReport:
    """Rebuild the image of the ``.gosv`` file ``container_path`` and write it to ``output_path``.

    Parameters
    ----------
    container_path : str | Path
        A ``.gosv`` file (format version 1, 2 or 3), possibly damaged or made elsewhere. Packets that
        fail their checksum (version 3) are decoded as lost: the codec conceals them.
    output_path : str | Path
        The image to write; its suffix picks the format (``.png`` keeps the decoded pixels exactly).
    allow_model_paths : bool
        Let the file's model parameters be paths (only for files you trust: the decoder opens them).

    Returns
    -------
    FileCodingReport
        Sizes, the damaged packets, the concealed fraction and ``failed`` of the codec's decode, its
        ``details``.

    Raises
    ------
    MalformedContainerError
        One line naming the file: not a valid ``.gosv`` file (a header that fails its checksum
        included), an untrusted or invalid codec spec, sizes that do not fit the codec.
    UserError
        One line: unreadable file, unwritable ``output_path``, a model missing from the zoo.
    """
    check_output_path(output_path, image=True)
    source = os.fspath(container_path)
    contents = read_container(container_path)
    name, params = checked_codec_spec(contents.codec_spec, source=source, allow_model_paths=allow_model_paths)
    try:
        codec = build_codec(name, params, where="codec spec")
    except UserError as exc:
        raise UserError(f"{source}: {exc}") from None
    coded = contents.checked_coded_size(codec.size_multiple(), source=source)
    decoded = codec.decode([contents.received()], image_size=coded)
    height, width = contents.image_size
    write_image(decoded.images[0, :, :height, :width], output_path)
    return FileCodingReport(
        codec_spec=contents.codec_spec,
        image_size=(height, width),
        coded_size=coded,
        file_bytes=Path(container_path).stat().st_size,
        payload_bytes=sum(len(p) for p in contents.packets),
        concealed_fraction=float(decoded.concealed_fraction[0]),
        failed=bool(decoded.failed[0]),
        description=codec.describe(),
        details=decoded.details[0] if decoded.details else None,
        damaged_packets=contents.damaged,
        num_packets=len(contents.packets),
        format_version=contents.version,
    )
