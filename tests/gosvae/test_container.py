"""The .gosv file container: layout (version 3 with checksums; versions 2 and 1 still read), round
trip, bounds, and one-line errors for malformed files."""

from __future__ import annotations

import io
import struct
import zlib

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
from gosvae.source_coding.container import MAX_SPEC_BYTES

SPEC = "vqvae:model=gos-vae-star-r4,coder=range"


@pytest.fixture
def contents() -> ContainerContents:
    prior = np.linspace(1.0, 2.0, 50)
    indices = np.random.default_rng(0).integers(0, 50, size=(9, 12))
    packets = encode_index_map(indices, prior=prior, coder="range", rows_per_slice=4)
    return ContainerContents(codec_spec=SPEC, image_size=(34, 45), coded_size=(36, 48), packets=packets)


def _layout_v3(spec: bytes, sizes: tuple[int, int, int, int], packets: list[bytes]) -> bytes:
    """The documented version-3 byte layout (header CRC-32, per-packet CRC-32 of length + bytes)."""
    header = b"GOSV" + bytes([3]) + struct.pack(">H", len(spec)) + spec + struct.pack(">HHHHH", *sizes, len(packets))
    out = header + struct.pack(">I", zlib.crc32(header))
    for packet in packets:
        length = struct.pack(">I", len(packet))
        out += length + struct.pack(">I", zlib.crc32(length + packet)) + packet
    return out


def _layout(spec: bytes, sizes: tuple[int, int, int, int], packets: list[bytes], *, version: int = 2,
            count: int | None = None) -> bytes:
    """The documented version-2 byte layout (still read), assembled independently of the module."""
    out = b"GOSV" + bytes([version]) + struct.pack(">H", len(spec)) + spec
    out += struct.pack(">HHHHH", *sizes, len(packets) if count is None else count)
    for packet in packets:
        out += struct.pack(">I", len(packet)) + packet
    return out


def _layout_v1(model_id: bytes, sizes: tuple[int, int, int, int], packets: list[bytes]) -> bytes:
    """The documented version-1 byte layout."""
    out = b"GOSV" + bytes([1, len(model_id)]) + model_id + struct.pack(">IIHHH", *sizes, len(packets))
    for packet in packets:
        out += struct.pack(">I", len(packet)) + packet
    return out


def test_bytes_follow_the_documented_layout():
    contents = ContainerContents(codec_spec="jpeg:quality=30", image_size=(9000, 3), coded_size=(9000, 3),
                                 packets=[b"\xa1abc", b"", b"z" * 300])
    assert pack_container(contents) == _layout_v3(b"jpeg:quality=30", (9000, 3, 9000, 3), [b"\xa1abc", b"", b"z" * 300])


def test_version_2_is_still_read():
    data = _layout(b"jpeg:quality=30", (9000, 3, 9000, 3), [b"\xa1abc", b"", b"z" * 300])
    contents = unpack_container(data)
    assert contents.version == 2 and not contents.checksummed and contents.damaged == ()
    assert contents.codec_spec == "jpeg:quality=30" and contents.coded_size == (9000, 3)
    assert contents.packets == [b"\xa1abc", b"", b"z" * 300] == contents.received()


def test_round_trip_through_a_path(tmp_path, contents):
    path = tmp_path / "image.gosv"
    written = write_container(path, contents)
    assert written == path.stat().st_size
    loaded = read_container(path)
    assert loaded == contents and loaded.version == 3 and loaded.index_shape is None and loaded.checksummed
    prior = np.linspace(1.0, 2.0, 50)
    original = decode_index_map(contents.packets, shape=(9, 12), prior=prior).indices
    np.testing.assert_array_equal(decode_index_map(loaded.packets, shape=(9, 12), prior=prior).indices, original)


def test_round_trip_through_a_file_object(contents):
    buffer = io.BytesIO()
    write_container(buffer, contents)
    buffer.seek(0)
    assert read_container(buffer) == contents


def test_numpy_sizes_are_accepted_as_ints():
    contents = ContainerContents(codec_spec="m", image_size=np.array([4, 8]), coded_size=(np.int64(4), 8))
    assert contents.image_size == (4, 8) and unpack_container(pack_container(contents)) == contents


def test_version_1_is_read_as_a_vqvae_spec():
    data = _layout_v1(b"tiny-codec", (30, 45, 8, 12), [b"\xa1abc", b"xy"])
    contents = unpack_container(data)
    assert contents.version == 1 and contents.codec_spec == "vqvae:model=tiny-codec"
    assert contents.image_size == (30, 45) and contents.index_shape == (8, 12) and contents.coded_size is None
    assert contents.packets == [b"\xa1abc", b"xy"]
    assert contents.checked_coded_size(4) == (32, 48)  # the index shape times the model's ratio
    with pytest.raises(UserError, match="only version 3 is written"):
        pack_container(contents)


def test_version_1_coded_size_is_checked():
    with pytest.raises(MalformedContainerError, match=r"^v1.gosv: coded size 16x48 is not image 30x45 padded"):
        unpack_container(_layout_v1(b"m", (30, 45, 4, 12), [])).checked_coded_size(4, source="v1.gosv")
    with pytest.raises(MalformedContainerError, match="exceeds 16384 pixels per side"):
        unpack_container(_layout_v1(b"m", (30, 45, 5000, 12), [])).checked_coded_size(4)


@pytest.mark.parametrize(("coded", "multiple", "message"), [
    ((36, 48), 4, None), ((34, 45), 1, None), ((36, 48), 8, "not image 34x45 padded to a multiple of 8"),
    ((40, 48), 4, "(height)"), ((36, 52), 4, "(width)"), ((36, 48), 16, "multiple of 16"),
])
def test_coded_size_must_be_the_padded_image(coded, multiple, message):
    contents = ContainerContents(codec_spec="m", image_size=(34, 45) if multiple != 1 else coded, coded_size=coded)
    if message is None:
        assert contents.checked_coded_size(multiple) == coded
    else:
        with pytest.raises(MalformedContainerError, match=message.replace("(", r"\(").replace(")", r"\)")):
            contents.checked_coded_size(multiple, source="f.gosv")


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
    message = _one_line_error(_layout(b"m", (4, 4, 4, 4), [], version=4))
    assert "unsupported .gosv format version 4 (this gosvae reads versions 1, 2 and 3)" in message


def test_every_truncation_is_reported(contents):
    data = pack_container(contents)
    for length in range(4, len(data)):
        assert "truncated" in _one_line_error(data[:length])
    for length in range(4):
        assert "not a .gosv file" in _one_line_error(data[:length])


def test_truncation_message_names_the_missing_part(contents):
    data = pack_container(contents)
    assert "packet 2 of 3" in _one_line_error(data[:-1])


def test_trailing_bytes(contents):
    assert "1 unexpected bytes after the last of 3 packets" in _one_line_error(pack_container(contents) + b"\x00")


def test_packet_count_is_bounded_by_the_file_size():
    # 65535 packets announced, 8 bytes follow: refused before any packet is read
    message = _one_line_error(_layout(b"m", (4, 4, 4, 4), [b"abcd"], count=65535))
    assert "65535 packets need at least 262140 bytes, file has 8 left" in message
    # one packet announcing 4 GiB
    data = _layout(b"m", (4, 4, 4, 4), [], count=1) + struct.pack(">I", 0xFFFFFFFF) + b"xyz"
    assert "packet 0 of 1 needs 4294967295 bytes" in _one_line_error(data)


@pytest.mark.parametrize(("spec", "message"), [
    (b"", "codec spec length 0 is not in [1, 1024]"),
    (b"j" * (MAX_SPEC_BYTES + 1), "codec spec length 1025 is not in [1, 1024]"),
    ("jpeg:quality=3ö".encode(), "codec spec is not printable ASCII (byte 0xc3)"),
    (b"jpeg:\nquality=3", "codec spec is not printable ASCII (byte 0x0a)"),
])
def test_bad_spec_bytes(spec, message):
    assert message in _one_line_error(_layout(spec, (4, 4, 4, 4), []))


def test_over_long_spec_is_refused_before_it_is_read():
    data = _layout(b"jpeg", (4, 4, 4, 4), [])
    data = data[:5] + struct.pack(">H", 60000) + data[7:]
    assert "codec spec length 60000" in _one_line_error(data)


@pytest.mark.parametrize(("sizes", "message"), [
    ((0, 4, 4, 4), "image_size: expected two integers in [1, 16384]"),
    ((4, 4, 4, 0), "coded_size: expected two integers in [1, 16384]"),
    ((4, 4, 16385, 4), "coded_size: expected two integers in [1, 16384]"),
    ((20000, 4, 20000, 4), "image_size: expected two integers in [1, 16384]"),
    ((8, 8, 4, 8), "coded_size: 4x8 is smaller than the image 8x8"),
])
def test_sizes_out_of_bounds(sizes, message):
    assert message in _one_line_error(_layout(b"m", sizes, []))


def test_version_1_model_id_errors():
    assert "not valid UTF-8" in _one_line_error(_layout_v1(b"\xff\xfe", (4, 4, 1, 1), []))
    assert "empty model id" in _one_line_error(_layout_v1(b"", (4, 4, 1, 1), []))
    assert "printable ASCII" in _one_line_error(_layout_v1("gös".encode(), (4, 4, 1, 1), []))
    assert "image_size" in _one_line_error(_layout_v1(b"m", (70000, 4, 1, 1), []))


def test_missing_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="missing.gosv: cannot read"):
        read_container(tmp_path / "missing.gosv")


def test_error_names_the_file_read(tmp_path):
    path = tmp_path / "broken.gosv"
    path.write_bytes(b"GOSV\x02")
    with pytest.raises(MalformedContainerError, match=f"^{path}: truncated"):
        read_container(path)
    with pytest.raises(UserError, match=f"^{tmp_path}: cannot write"):
        write_container(tmp_path, ContainerContents(codec_spec="m", image_size=(4, 4), coded_size=(4, 4)))


def test_a_stream_that_is_not_a_gosv_file_is_not_read_to_its_end():
    class Endless(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, buffer) -> int:
            buffer[:] = b"\x00" * len(buffer)
            return len(buffer)

    with pytest.raises(MalformedContainerError, match="not a .gosv file"):
        read_container(Endless())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"codec_spec": ""}, "codec spec"),
        ({"codec_spec": "x" * 1025}, "codec spec"),
        ({"codec_spec": "vqvae:model=gös"}, "printable ASCII"),
        ({"image_size": (0, 5)}, "image_size"),
        ({"coded_size": (16385, 8)}, "coded_size"),
        ({"coded_size": (4, 8)}, "smaller than the image"),
        ({"coded_size": (2.5, 8)}, "coded_size"),
        ({"coded_size": None}, "version 3 needs coded_size"),
        ({"coded_size": None, "version": 2}, "version 2 needs coded_size"),
        ({"version": 4}, "version"),
        ({"damaged": (0,)}, "damaged"),
        ({"damaged": (0,), "packets": [b"x"], "version": 2}, "damaged"),
        ({"packets": [b""] * 70000}, "at most 65535"),
    ],
)
def test_contents_validation(kwargs, message):
    fields = {"codec_spec": "m", "image_size": (8, 8), "coded_size": (8, 8), "packets": []} | kwargs
    with pytest.raises(UserError, match=message):
        ContainerContents(**fields)
