"""Untrusted `.gosv` files through `gosvae decode`: seeded corruption of valid files and crafted
headers. Every outcome is a decoded image or one line on stderr with exit code 2; in a version-3
file every damage is *reported* (an error, or packets that fail their checksum, decoded as lost)."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gosvae.cli import main
from gosvae.errors import UserError
from gosvae.image_files import decode_image_file, encode_image_file
from gosvae.source_coding.container import MalformedContainerError, pack_container, read_container, unpack_container

SPECS = {
    "range": "vqvae:model=tiny-codec,coder=range,rows_per_slice=1",
    "huffman": "vqvae:model=tiny-codec,coder=huffman,rows_per_slice=1",
    "fixed": "vqvae:model=tiny-codec,coder=fixed,rows_per_slice=1",
    "jpeg": "jpeg:quality=50,max_packet_bytes=64",
}


def _png(path: Path, height: int, width: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(path)
    return path


def _encode(tmp_path: Path, spec: str, *, size=(14, 21), name: str = "ok.gosv") -> Path:
    encode_image_file(_png(tmp_path / "in.png", *size), tmp_path / name, codec_spec=spec)
    return tmp_path / name


def _to_v2(data: bytes) -> bytes:
    """The same contents in the version-2 layout (no checksums), as older gosvae wrote them."""
    contents = unpack_container(data)
    spec = contents.codec_spec.encode()
    out = b"GOSV\x02" + struct.pack(">H", len(spec)) + spec
    out += struct.pack(">HHHHH", *contents.image_size, *contents.coded_size, len(contents.packets))
    return out + b"".join(struct.pack(">I", len(p)) + p for p in contents.packets)


def _v1(model: bytes, sizes: tuple[int, int, int, int], packets: list[bytes]) -> bytes:
    out = b"GOSV" + bytes([1, len(model)]) + model + struct.pack(">IIHHH", *sizes, len(packets))
    return out + b"".join(struct.pack(">I", len(p)) + p for p in packets)


def _v3(spec: bytes, sizes: tuple[int, int, int, int], packets: list[bytes]) -> bytes:
    header = b"GOSV\x03" + struct.pack(">H", len(spec)) + spec + struct.pack(">HHHHH", *sizes, len(packets))
    out = header + struct.pack(">I", zlib.crc32(header))
    for packet in packets:
        length = struct.pack(">I", len(packet))
        out += length + struct.pack(">I", zlib.crc32(length + packet)) + packet
    return out


def _decode_cli(path: Path, out: Path, capsys, *extra: str) -> tuple[int, str, str]:
    code = main(["decode", str(path), "-o", str(out), *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _assert_outcome(code: int, out: str, err: str, image: Path) -> None:
    """A decoded image (exit 0, the image written) or exactly one line ``error: ...`` (exit 2)."""
    assert "Traceback" not in out + err
    if code == 0:
        assert image.is_file() and err == ""
    else:
        assert code == 2, err
        assert err.startswith("error: ") and err.endswith("\n") and err.count("\n") == 1, err


def _mutate(data: bytes, rng: np.random.Generator) -> tuple[bytes, str]:
    """One seeded random damage of a file's bytes; returns the damaged bytes and its kind."""
    kind = ("flip", "flips", "truncate", "extend", "delete", "insert", "overwrite", "garbage")[int(rng.integers(8))]
    damaged = bytearray(data)
    position = int(rng.integers(len(data)))
    if kind == "flip":
        damaged[position] ^= 1 << int(rng.integers(8))
    elif kind == "flips":
        for where in rng.integers(0, len(data), size=int(rng.integers(2, 9))):
            damaged[where] ^= 1 << int(rng.integers(8))
    elif kind == "truncate":
        del damaged[position:]
    elif kind == "extend":
        damaged += rng.integers(0, 256, size=int(rng.integers(1, 40)), dtype=np.uint8).tobytes()
    elif kind == "delete":
        del damaged[position:position + int(rng.integers(1, 5))]
    elif kind == "insert":
        damaged[position:position] = rng.integers(0, 256, size=int(rng.integers(1, 5)), dtype=np.uint8).tobytes()
    elif kind == "overwrite":  # a run of random bytes, e.g. over a size or length field
        run = rng.integers(0, 256, size=int(rng.integers(1, 9)), dtype=np.uint8).tobytes()
        damaged[position:position + len(run)] = run
    else:
        damaged = bytearray(b"GOSV" + rng.integers(0, 256, size=int(rng.integers(0, 80)), dtype=np.uint8).tobytes())
    return bytes(damaged), kind


def _fuzz(tmp_path: Path, capsys, spec: str, *, count: int, seed: int, version: int) -> dict[str, int]:
    data = _encode(tmp_path, spec).read_bytes()
    if version == 2:
        data = _to_v2(data)
    rng = np.random.default_rng(seed)
    outcomes = {"decoded": 0, "damaged": 0, "refused": 0}
    for _ in range(count):
        damaged, kind = _mutate(data, rng)
        if damaged == data:
            continue
        (tmp_path / "bad.gosv").write_bytes(damaged)
        (tmp_path / "bad.png").unlink(missing_ok=True)
        code, out, err = _decode_cli(tmp_path / "bad.gosv", tmp_path / "bad.png", capsys)
        _assert_outcome(code, out, err, tmp_path / "bad.png")
        if code != 0:
            outcomes["refused"] += 1
            continue
        outcomes["decoded"] += 1
        if version == 3:  # every change to a checksummed file is reported as damage
            assert "DAMAGED" in out, (kind, out)
            outcomes["damaged"] += 1
        else:
            assert "no checksums" in out
    return outcomes


@pytest.mark.parametrize("name", ["range", "huffman", "fixed", "jpeg"])
def test_random_corruption_decodes_with_damage_reported_or_fails_in_one_line(tmp_path, tiny_zoo, capsys, name):
    outcomes = _fuzz(tmp_path, capsys, SPECS[name], count=40, seed=1, version=3)
    assert outcomes["refused"] > 0 and outcomes["damaged"] > 0  # both outcomes occur
    assert outcomes["damaged"] == outcomes["decoded"]


@pytest.mark.parametrize("name", ["range", "fixed"])
def test_random_corruption_of_version_2_files(tmp_path, tiny_zoo, capsys, name):
    outcomes = _fuzz(tmp_path, capsys, SPECS[name], count=30, seed=2, version=2)
    assert outcomes["refused"] > 0 and outcomes["decoded"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SPECS) + ["webp", "jpeg2000"])
@pytest.mark.parametrize("version", [3, 2])
def test_random_corruption_many(tmp_path, tiny_zoo, capsys, name, version):
    spec = SPECS.get(name) or f"{name}:max_packet_bytes=64"
    outcomes = _fuzz(tmp_path, capsys, spec, count=400, seed=10 + version, version=version)
    assert outcomes["refused"] > 0 and outcomes["decoded"] > 0


@pytest.mark.parametrize("name", ["range", "huffman", "fixed"])
def test_every_single_bit_flip_of_a_version_3_file_is_detected(tmp_path, tiny_zoo, name):
    data = _encode(tmp_path, SPECS[name], size=(8, 12)).read_bytes()
    clean = unpack_container(data)
    header_end = 7 + len(clean.codec_spec) + 10 + 4  # magic, version, spec length, spec, sizes, header checksum
    for bit in range(8 * len(data)):
        damaged = bytearray(data)
        damaged[bit // 8] ^= 1 << (bit % 8)
        try:
            contents = unpack_container(bytes(damaged), source="f.gosv")
        except MalformedContainerError as exc:
            assert "\n" not in str(exc) and str(exc).startswith("f.gosv: ")
            continue
        assert bit // 8 >= header_end, f"a flip of header bit {bit} went unnoticed"
        assert len(contents.damaged) == 1, f"bit {bit}"  # exactly the packet holding the bit
        i = contents.damaged[0]
        assert contents.packets[:i] == clean.packets[:i] and contents.packets[i + 1:] == clean.packets[i + 1:]
        assert contents.received()[i] is None


@pytest.mark.parametrize("name", ["range", "huffman", "fixed"])
def test_a_flipped_payload_bit_is_concealed_not_decoded_as_a_good_slice(tmp_path, tiny_zoo, name):
    path = _encode(tmp_path, SPECS[name], size=(16, 24))
    data = path.read_bytes()
    clean = decode_image_file(path, tmp_path / "clean.png")
    assert clean.damaged_packets == () and clean.concealed_fraction == 0.0 and clean.format_version == 3
    rng = np.random.default_rng(3)
    last = read_container(path).packets[-1]
    start = len(data) - len(last) + 13  # the last slice's payload, after its 13-byte slice header
    for bit in rng.choice(8 * (len(data) - start), size=6, replace=False):
        damaged = bytearray(data)
        damaged[start + bit // 8] ^= 1 << (bit % 8)
        (tmp_path / "bad.gosv").write_bytes(damaged)
        report = decode_image_file(tmp_path / "bad.gosv", tmp_path / "bad.png")
        assert report.damaged_packets == (len(read_container(path).packets) - 1,)
        assert report.concealed_fraction == pytest.approx(1 / 4)  # one of the 4 index rows (rows_per_slice=1)


def test_every_header_byte_damage_of_a_version_3_file_is_a_one_line_error(tmp_path, tiny_zoo, capsys):
    path = _encode(tmp_path, SPECS["range"])
    data = path.read_bytes()
    header = 7 + int.from_bytes(data[5:7], "big") + 10 + 4
    for position in range(header):
        damaged = bytearray(data)
        damaged[position] ^= 0x80
        (tmp_path / "bad.gosv").write_bytes(damaged)
        code, out, err = _decode_cli(tmp_path / "bad.gosv", tmp_path / "bad.png", capsys)
        assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, (position, err)
    assert not (tmp_path / "bad.png").exists()


def test_size_field_bit_flips_of_a_version_2_file_are_one_line_errors(tmp_path, tiny_zoo, capsys):
    data = _to_v2(_encode(tmp_path, SPECS["range"], size=(64, 96)).read_bytes())
    sizes = 7 + int.from_bytes(data[5:7], "big")
    for position in range(sizes, sizes + 10):  # image h, w; coded h, w; packet count (byte 29/31 of v1 files)
        for mask in (0x80, 0x01):
            damaged = bytearray(data)
            damaged[position] ^= mask
            (tmp_path / "bad.gosv").write_bytes(damaged)
            (tmp_path / "bad.png").unlink(missing_ok=True)
            code, out, err = _decode_cli(tmp_path / "bad.gosv", tmp_path / "bad.png", capsys)
            _assert_outcome(code, out, err, tmp_path / "bad.png")
            if code == 0:  # a count flip may leave a decodable file: then the slices are concealed
                assert "concealed" in out or "FAILED" in out


@pytest.mark.parametrize(("model", "message"), [
    (b"../../tiny-codec", "is not a zoo model name"),
    (b"C:\\zoo\\tiny-codec", "is not a zoo model name"),
    (b"a" * 255, "is not a zoo model name"),
    (b".tiny-codec", "is not a zoo model name"),
])
def test_version_1_model_ids_are_names_never_paths(tmp_path, tiny_zoo, capsys, model, message):
    (tmp_path / "x.gosv").write_bytes(_v1(model, (16, 16, 4, 4), []))
    code, out, err = _decode_cli(tmp_path / "x.gosv", tmp_path / "x.png", capsys)
    assert code == 2 and message in err and err.count("\n") == 1


def test_an_absolute_path_to_a_real_entry_is_not_opened(tmp_path, tiny_zoo, capsys):
    evil = str(tiny_zoo / "tiny-codec").encode()  # tiny_zoo/tiny-codec.json exists: it must not be used
    for data in (_v1(evil, (16, 16, 4, 4), []), _v3(b"vqvae:model=" + evil, (16, 16, 16, 16), [])):
        (tmp_path / "x.gosv").write_bytes(data)
        code, out, err = _decode_cli(tmp_path / "x.gosv", tmp_path / "x.png", capsys)
        assert code == 2 and "is not a zoo model name" in err and not (tmp_path / "x.png").exists()


def test_an_over_long_model_path_is_one_line_even_when_paths_are_allowed(tmp_path, tiny_zoo, capsys):
    (tmp_path / "x.gosv").write_bytes(_v3(b"vqvae:model=" + b"a" * 300, (16, 16, 16, 16), []))
    code, out, err = _decode_cli(tmp_path / "x.gosv", tmp_path / "x.png", capsys, "--allow-model-paths")
    assert code == 2 and err.count("\n") == 1 and "model 'aaaa" in err


@pytest.mark.parametrize(("data", "message"), [
    (_v1(b"tiny-codec", (1, 1, 1024, 1024), []), "coded size 4096x4096 is not image 1x1 padded"),  # the 35-byte file
    (_v1(b"tiny-codec", (1, 1, 65535, 65535), []), "exceeds 16384 pixels per side"),
    (_v1(b"tiny-codec", (16, 16, 4, 4), [b""] * 5), "5 slices for an index map of 4 rows"),
    (_v3(b"vqvae:model=tiny-codec", (1, 1, 16384, 16384), []), "coded size 16384x16384 is not image 1x1 padded"),
    (_v3(b"vqvae:model=tiny-codec", (16, 16, 65535, 16), []), "coded_size: expected two integers in [1, 16384]"),
    (_v3(b"jpeg:quality=30", (16, 16, 16, 16), [b"x"] * 3)[:-5], "truncated"),
    (_v3(b"jpeg:quality=30", (16, 16, 16, 16), []) + b"\x00", "unexpected bytes after the last of 0 packets"),
])
def test_crafted_sizes_are_refused_before_anything_is_allocated(tmp_path, tiny_zoo, capsys, data, message):
    (tmp_path / "x.gosv").write_bytes(data)
    code, out, err = _decode_cli(tmp_path / "x.gosv", tmp_path / "x.png", capsys)
    assert code == 2 and message in err and err.count("\n") == 1


def test_a_crafted_header_with_a_wrong_checksum_is_damage(tmp_path, tiny_zoo, capsys):
    data = bytearray(_v3(b"jpeg:quality=30", (16, 16, 16, 16), []))
    data[-1] ^= 1  # the header checksum itself
    (tmp_path / "x.gosv").write_bytes(bytes(data))
    code, out, err = _decode_cli(tmp_path / "x.gosv", tmp_path / "x.png", capsys)
    assert code == 2 and "damaged .gosv file: the header fails its checksum" in err


@pytest.mark.parametrize("command", ["encode", "decode"])
def test_bad_output_and_input_paths_are_one_line_errors(tmp_path, tiny_zoo, capsys, command):
    source = _png(tmp_path / "in.png", 8, 8) if command == "encode" else _encode(tmp_path, SPECS["range"])
    (tmp_path / "folder").mkdir()
    outputs = [tmp_path / "folder", tmp_path / "in.png" / "x.out"]
    if command == "decode":
        outputs.append(tmp_path / "x.unknown-extension")
    for output in outputs:
        extra = ["--codec", "jpeg:quality=30"] if command == "encode" else []
        assert main([command, str(source), "-o", str(output), *extra]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: -o ") and err.count("\n") == 1
    assert main(["decode", str(tmp_path / "folder"), "-o", str(tmp_path / "y.png")]) == 2
    assert capsys.readouterr().err == f"error: {tmp_path / 'folder'}: is a folder, expected a .gosv file\n"


def test_a_damaged_version_3_file_says_so_on_the_command_line(tmp_path, tiny_zoo, capsys):
    path = _encode(tmp_path, SPECS["fixed"], size=(16, 24))
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x10  # last payload byte of the last slice
    path.write_bytes(bytes(data))
    code, out, err = _decode_cli(path, tmp_path / "x.png", capsys)
    assert code == 0 and "DAMAGED: 1 of 4 packets fail their checksum (decoded as lost)" in out
    assert "25.0% concealed" in out


def test_a_version_2_file_decodes_with_a_note_that_it_has_no_checksums(tmp_path, tiny_zoo, capsys):
    path = _encode(tmp_path, SPECS["range"])
    path.write_bytes(_to_v2(path.read_bytes()))
    code, out, err = _decode_cli(path, tmp_path / "x.png", capsys)
    assert code == 0 and "format 2 file: no checksums" in out
    with pytest.raises(UserError, match="only version 3 is written"):  # v2 contents are never written back as such
        pack_container(read_container(path))
