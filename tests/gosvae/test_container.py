"""The .gosv file container: layout, round trip, and one-line errors for malformed files."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest

from gosvae.errors import UserError
from gosvae.source_coding import (
    ContainerContents,
    MalformedContainerError,
    decode_index_map,
    encode_index_map,
    pack_container,
    read_container,
    unpack_container,
    write_container,
)


@pytest.fixture
def contents() -> ContainerContents:
    prior = np.linspace(1.0, 2.0, 50)
    indices = np.random.default_rng(0).integers(0, 50, size=(9, 12))
    packets = encode_index_map(indices, prior=prior, coder="range", rows_per_slice=4)
    return ContainerContents(model_id="gos-vae-star-r4", image_size=(36, 48), index_shape=(9, 12), packets=packets)


def _layout(model_id: bytes, sizes: tuple[int, int, int, int], packets: list[bytes], *, version: int = 1) -> bytes:
    """The documented byte layout, assembled independently of the module."""
    out = b"GOSV" + bytes([version, len(model_id)]) + model_id + struct.pack(">IIHHH", *sizes, len(packets))
    for packet in packets:
        out += struct.pack(">I", len(packet)) + packet
    return out


def test_bytes_follow_the_documented_layout():
    contents = ContainerContents(model_id="gös", image_size=(70000, 3), index_shape=(2, 1),
                                 packets=[b"\xa1abc", b"", b"z" * 300])
    expected = _layout("gös".encode(), (70000, 3, 2, 1), [b"\xa1abc", b"", b"z" * 300])
    assert pack_container(contents) == expected


def test_round_trip_through_a_path(tmp_path, contents):
    path = tmp_path / "image.gosv"
    written = write_container(path, contents)
    assert written == path.stat().st_size
    loaded = read_container(path)
    assert loaded == contents
    prior = np.linspace(1.0, 2.0, 50)
    original = decode_index_map(contents.packets, shape=(9, 12), prior=prior).indices
    np.testing.assert_array_equal(decode_index_map(loaded.packets, shape=loaded.index_shape, prior=prior).indices,
                                  original)


def test_round_trip_through_a_file_object(contents):
    buffer = io.BytesIO()
    write_container(buffer, contents)
    buffer.seek(0)
    assert read_container(buffer) == contents


def test_numpy_sizes_are_accepted_as_ints():
    contents = ContainerContents(model_id="m", image_size=np.array([4, 8]), index_shape=(np.int64(1), 2))
    assert contents.image_size == (4, 8) and unpack_container(pack_container(contents)) == contents


def _one_line_error(data: bytes, *, source: str = "bad.gosv") -> str:
    with pytest.raises(MalformedContainerError) as info:
        unpack_container(data, source=source)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{source}: ")
    assert isinstance(info.value, UserError)
    return message


def test_bad_magic(contents):
    assert "not a .gosv file" in _one_line_error(b"PNG\x89" + pack_container(contents)[4:])
    assert "not a .gosv file" in _one_line_error(b"")


def test_unsupported_version():
    message = _one_line_error(_layout(b"m", (4, 4, 1, 1), [], version=2))
    assert "unsupported .gosv format version 2" in message


def test_every_truncation_is_reported(contents):
    data = pack_container(contents)
    for length in range(4, len(data)):
        assert "truncated" in _one_line_error(data[:length])
    for length in range(4):
        assert "not a .gosv file" in _one_line_error(data[:length])


def test_truncation_message_names_the_missing_part(contents):
    data = pack_container(contents)
    assert "slice 2 of 3" in _one_line_error(data[:-1])


def test_trailing_bytes(contents):
    assert "1 unexpected bytes after the last of 3 slices" in _one_line_error(pack_container(contents) + b"\x00")


def test_model_id_not_utf8():
    assert "not valid UTF-8" in _one_line_error(_layout(b"\xff\xfe", (4, 4, 1, 1), []))


@pytest.mark.parametrize("sizes", [(0, 4, 1, 1), (4, 4, 0, 1)])
def test_zero_sizes(sizes):
    assert "expected two integers" in _one_line_error(_layout(b"m", sizes, []))


def test_empty_model_id():
    assert "model_id" in _one_line_error(_layout(b"", (4, 4, 1, 1), []))


def test_missing_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="missing.gosv: cannot read"):
        read_container(tmp_path / "missing.gosv")


def test_error_names_the_file_read(tmp_path):
    path = tmp_path / "broken.gosv"
    path.write_bytes(b"GOSV\x01")
    with pytest.raises(MalformedContainerError, match=f"^{path}: truncated"):
        read_container(path)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"model_id": ""}, "model_id"),
        ({"model_id": "x" * 256}, "model_id"),
        ({"image_size": (0, 5)}, "image_size"),
        ({"index_shape": (70000, 5)}, "index_shape"),
        ({"index_shape": (2.5, 5)}, "index_shape"),
        ({"packets": [b""] * 70000}, "at most 65535"),
    ],
)
def test_contents_validation(kwargs, message):
    fields = {"model_id": "m", "image_size": (8, 8), "index_shape": (2, 2), "packets": []} | kwargs
    with pytest.raises(UserError, match=message):
        ContainerContents(**fields)
