"""`gosvae encode` / `gosvae decode` through the codec contract (vqvae and byte codecs), untrusted
codec specs, version-1 files, a fuzz of damaged files, and `gosvae eval` writing its table."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
import torch
from PIL import Image

from gosvae.cli import main
from gosvae.codecs import build_codec, validate_codec_params
from gosvae.codecs.vqvae import load_codec
from gosvae.errors import UserError
from gosvae.image_files import decode_image_file, encode_image_file, format_codec_spec, read_image
from gosvae.source_coding.container import ContainerContents, MalformedContainerError, read_container, write_container

TINY_SPEC = "vqvae:model=tiny-codec,coder=range,rows_per_slice=4,concealment=most-probable,batch_size=16"


def _write_png(path, height: int, width: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(path)


def _padded(path, multiple: int) -> torch.Tensor:
    x = read_image(path)
    pad_h, pad_w = (-x.shape[-2]) % multiple, (-x.shape[-1]) % multiple
    return torch.nn.functional.pad(x, (0, pad_w, 0, pad_h), mode="replicate")


def test_vqvae_round_trip_indices_are_exact_and_size_kept(tmp_path, tiny_zoo):
    _write_png(tmp_path / "in.png", 30, 45)  # not a multiple of r=4: padded, then cropped back
    sent = encode_image_file(tmp_path / "in.png", tmp_path / "x.gosv", model="tiny-codec")
    got = decode_image_file(tmp_path / "x.gosv", tmp_path / "out.png")
    assert sent.codec_spec == got.codec_spec == TINY_SPEC and sent.model_paths == ()
    assert sent.coded_size == got.coded_size == (32, 48) and got.image_size == (30, 45)
    assert got.concealed_fraction == 0.0 and not got.failed and got.description["codec"] == "vqvae"
    assert sent.file_bytes == (tmp_path / "x.gosv").stat().st_size and got.payload_bytes == sent.payload_bytes
    assert Image.open(tmp_path / "out.png").size == (45, 30)
    contents = read_container(tmp_path / "x.gosv")
    assert contents.codec_spec == TINY_SPEC and contents.image_size == (30, 45) and contents.coded_size == (32, 48)

    # bit-exact index round trip (the vqvae codec's decode details), and the decoded file is the
    # codec's clean reconstruction of the padded image, cropped (8-bit rounding)
    codec = load_codec("tiny-codec")
    indices = codec.encode_indices(_padded(tmp_path / "in.png", 4))
    np.testing.assert_array_equal(got.details.indices, indices[0].numpy())
    expected = codec.decode_from_indices(indices)[0, :, :30, :45]
    torch.testing.assert_close(read_image(tmp_path / "out.png")[0], expected, atol=1 / 255 + 1e-6, rtol=0)


def test_spec_and_shorthand_write_the_same_file(tmp_path, tiny_zoo):
    _write_png(tmp_path / "in.png", 16, 24)
    encode_image_file(tmp_path / "in.png", tmp_path / "a.gosv", model="tiny-codec", coder="huffman", rows_per_slice=2)
    encode_image_file(tmp_path / "in.png", tmp_path / "b.gosv", codec_spec="vqvae:model=tiny-codec,coder=huffman,rows_per_slice=2")
    encode_image_file(tmp_path / "in.png", tmp_path / "c.gosv", codec_spec="vqvae:coder=huffman", model="tiny-codec", rows_per_slice=2)
    assert (tmp_path / "a.gosv").read_bytes() == (tmp_path / "b.gosv").read_bytes() == (tmp_path / "c.gosv").read_bytes()
    with pytest.raises(UserError, match="belong to the vqvae codec only"):
        encode_image_file(tmp_path / "in.png", tmp_path / "d.gosv", codec_spec="jpeg:quality=30", coder="fixed")


@pytest.mark.parametrize(("name", "params"), [("jpeg", {"quality": 30}), ("webp", {"quality": 40, "max_packet_bytes": 64})])
def test_byte_codec_round_trip_is_the_codecs_own(tmp_path, name, params):
    _write_png(tmp_path / "in.png", 21, 35)
    spec = f"{name}:" + ",".join(f"{k}={v}" for k, v in params.items())
    sent = encode_image_file(tmp_path / "in.png", tmp_path / "x.gosv", codec_spec=spec)
    got = decode_image_file(tmp_path / "x.gosv", tmp_path / "out.png")
    assert sent.coded_size == got.coded_size == (21, 35) and got.concealed_fraction == 0.0 and not got.failed
    assert got.description["codec"] == name and got.codec_spec.startswith(f"{name}:")
    codec = build_codec(name, params)
    streams = codec.encode(read_image(tmp_path / "in.png"))
    assert read_container(tmp_path / "x.gosv").packets == streams[0].packets
    expected = codec.decode([streams[0].packets], image_size=(21, 35)).images[0]
    torch.testing.assert_close(read_image(tmp_path / "out.png")[0], expected, atol=0, rtol=0)  # pixel-exact


def _v1_file(packets: list[bytes], *, model: bytes = b"tiny-codec", sizes=(30, 45, 8, 12)) -> bytes:
    out = b"GOSV" + bytes([1, len(model)]) + model + struct.pack(">IIHHH", *sizes, len(packets))
    return out + b"".join(struct.pack(">I", len(p)) + p for p in packets)


def test_version_1_file_still_decodes(tmp_path, tiny_zoo):
    _write_png(tmp_path / "in.png", 30, 45)
    encode_image_file(tmp_path / "in.png", tmp_path / "v2.gosv", model="tiny-codec")
    (tmp_path / "v1.gosv").write_bytes(_v1_file(read_container(tmp_path / "v2.gosv").packets))
    v1 = decode_image_file(tmp_path / "v1.gosv", tmp_path / "v1.png")
    v2 = decode_image_file(tmp_path / "v2.gosv", tmp_path / "v2.png")
    assert v1.codec_spec == "vqvae:model=tiny-codec" and v1.coded_size == (32, 48)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "v1.png")), np.asarray(Image.open(tmp_path / "v2.png")))
    (tmp_path / "big.gosv").write_bytes(_v1_file([], sizes=(30, 45, 8, 9000)))  # 9000 x r=4 > 16384
    with pytest.raises(MalformedContainerError, match="exceeds 16384 pixels per side"):
        decode_image_file(tmp_path / "big.gosv", tmp_path / "big.png")


def _crafted(tmp_path, spec: str, *, image=(8, 8), coded=(8, 8)):
    path = tmp_path / "crafted.gosv"
    write_container(path, ContainerContents(codec_spec=spec, image_size=image, coded_size=coded, packets=[b"\x00" * 8]))
    return path


@pytest.mark.parametrize(("spec", "message"), [
    ("vqvae:model=../zoo/tiny-codec", "model='../zoo/tiny-codec' is not a zoo model name"),
    ("vqvae:model=/etc/passwd", "model='/etc/passwd' is not a zoo model name"),
    ("vqvae:model=.hidden", "is not a zoo model name"),
    ("vqvae:model=123", "model='123' is not a zoo model name"),
    ("vqvae:model=" + "a" * 101, "is not a zoo model name"),
    ("factorized-ae:model=C:\\models\\x", "is not a zoo model name"),
    ("nope:quality=3", "unknown codec 'nope'"),
    ("vqvae:model=tiny-codec,coder=arith", "codec spec.coder: must be 'range', 'huffman' or 'fixed'"),
    ("jpeg:quality=300", "codec spec.quality: must be <= 100, got 300"),
    ("jpeg:qualty=30", "codec spec.qualty: unknown field (known: target_bytes, target_bpp, max_packet_bytes, quality,"),
    ("jpeg:quality", "'quality' is not KEY=VALUE"),
    (":quality=3", "expected NAME[:KEY=VALUE,...]"),
])
def test_untrusted_specs_are_one_line_errors(tmp_path, tiny_zoo, spec, message):
    path = _crafted(tmp_path, spec)
    with pytest.raises(MalformedContainerError) as info:
        decode_image_file(path, tmp_path / "out.png")
    text = str(info.value)
    assert "\n" not in text and text.startswith(f"{path}: ") and message in text
    assert not (tmp_path / "out.png").exists()


def test_a_zoo_name_that_is_also_a_local_folder_is_refused(tmp_path, tiny_zoo, monkeypatch):
    _write_png(tmp_path / "in.png", 8, 8)
    encode_image_file(tmp_path / "in.png", tmp_path / "x.gosv", model="tiny-codec")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny-codec").mkdir()
    with pytest.raises(MalformedContainerError, match="model='tiny-codec' is not a zoo model name"):
        decode_image_file(tmp_path / "x.gosv", tmp_path / "out.png")


def test_model_paths_need_allow_model_paths(tmp_path, tiny_zoo, capsys):
    _write_png(tmp_path / "in.png", 12, 12)
    folder = str(tiny_zoo)  # a folder holding one codec entry, given by path
    sent = encode_image_file(tmp_path / "in.png", tmp_path / "x.gosv", model=folder)
    assert sent.model_paths == (folder,) and f"model={folder}," in read_container(tmp_path / "x.gosv").codec_spec
    with pytest.raises(MalformedContainerError, match="decode with --allow-model-paths only if you trust the file"):
        decode_image_file(tmp_path / "x.gosv", tmp_path / "out.png")
    assert decode_image_file(tmp_path / "x.gosv", tmp_path / "out.png", allow_model_paths=True).concealed_fraction == 0.0
    # the same through the CLI
    assert main(["encode", str(tmp_path / "in.png"), "-o", str(tmp_path / "y.gosv"), "--model", folder]) == 0
    assert "decoding it needs gosvae decode --allow-model-paths" in capsys.readouterr().out
    assert main(["decode", str(tmp_path / "y.gosv"), "-o", str(tmp_path / "y.png")]) == 2
    assert main(["decode", str(tmp_path / "y.gosv"), "-o", str(tmp_path / "y.png"), "--allow-model-paths"]) == 0


def test_sizes_must_fit_the_codec(tmp_path, tiny_zoo):
    path = _crafted(tmp_path, "vqvae:model=tiny-codec", image=(30, 45), coded=(30, 45))  # r=4 needs 32x48
    with pytest.raises(MalformedContainerError, match=r"coded size 30x45 is not image 30x45 padded to a multiple of 4"):
        decode_image_file(path, tmp_path / "out.png")
    path = _crafted(tmp_path, "jpeg:quality=30", image=(30, 45), coded=(31, 45))  # padding without a need
    with pytest.raises(MalformedContainerError, match="not image 30x45 padded to a multiple of 1"):
        decode_image_file(path, tmp_path / "out.png")


def test_format_codec_spec_refuses_what_would_not_read_back():
    assert format_codec_spec("jpeg", validate_codec_params("jpeg", {"quality": 30})).startswith("jpeg:")
    for model in ("a,b", "123", "true", "null"):
        with pytest.raises(UserError, match="parameters model cannot be written into a .gosv codec spec"):
            format_codec_spec("vqvae", validate_codec_params("vqvae", {"model": model}))
    with pytest.raises(UserError, match="printable ASCII"):
        format_codec_spec("vqvae", validate_codec_params("vqvae", {"model": "gös"}))


def _mutations(data: bytes, rng: np.random.Generator, count: int) -> list[bytes]:
    """Truncations (1 in 4), bit flips anywhere (1 in 4) and bit flips in the packets (2 in 4)."""
    packets_start = 7 + int.from_bytes(data[5:7], "big") + 10
    out = []
    for i in range(count):
        if i % 4 == 3:
            out.append(data[:int(rng.integers(0, len(data)))])
        else:
            damaged = bytearray(data)
            low = 0 if i % 4 == 0 else packets_start
            for position in rng.integers(low, len(data), size=int(rng.integers(1, 4))):
                damaged[position] ^= 1 << int(rng.integers(0, 8))
            out.append(bytes(damaged))
    return out


def _fuzz(tmp_path, spec: str, *, count: int, seed: int) -> int:
    _write_png(tmp_path / "in.png", 14, 21)
    encode_image_file(tmp_path / "in.png", tmp_path / "ok.gosv", codec_spec=spec)
    decoded = 0
    for data in _mutations((tmp_path / "ok.gosv").read_bytes(), np.random.default_rng(seed), count):
        (tmp_path / "bad.gosv").write_bytes(data)
        try:
            report = decode_image_file(tmp_path / "bad.gosv", tmp_path / "bad.png")
        except UserError as exc:
            assert "\n" not in str(exc)
        else:
            assert Image.open(tmp_path / "bad.png").size == (report.image_size[1], report.image_size[0])
            decoded += 1
    return decoded


@pytest.mark.parametrize("spec", ["vqvae:model=tiny-codec,rows_per_slice=1", "jpeg:quality=50,max_packet_bytes=64"])
def test_fuzzed_files_decode_or_fail_in_one_line(tmp_path, tiny_zoo, spec):
    assert _fuzz(tmp_path, spec, count=48, seed=0) >= 12


@pytest.mark.slow
@pytest.mark.parametrize("spec", ["vqvae:model=tiny-codec,rows_per_slice=1", "jpeg:quality=50,max_packet_bytes=64",
                                  "webp:quality=50,max_packet_bytes=64", "jpeg2000:max_packet_bytes=64"])
def test_fuzzed_files_decode_or_fail_in_one_line_many(tmp_path, tiny_zoo, spec):
    assert _fuzz(tmp_path, spec, count=600, seed=1) >= 150


def test_cli_encode_decode_and_one_line_errors(tmp_path, tiny_zoo, capsys):
    _write_png(tmp_path / "in.png", 32, 64)
    assert main(["encode", str(tmp_path / "in.png"), "-o", str(tmp_path / "a.gosv"), "--model", "tiny-codec",
                 "--coder", "fixed"]) == 0
    assert main(["decode", str(tmp_path / "a.gosv"), "-o", str(tmp_path / "a.png")]) == 0
    out = capsys.readouterr().out
    assert "a.gosv" in out and "bpp, codec vqvae:model=tiny-codec,coder=fixed" in out
    assert main(["encode", str(tmp_path / "missing.png"), "-o", str(tmp_path / "b.gosv"), "--model", "tiny-codec"]) == 2
    assert capsys.readouterr().err.strip() == f"error: {tmp_path / 'missing.png'}: no such image file"
    (tmp_path / "bad.gosv").write_bytes(b"JUNK")
    assert main(["decode", str(tmp_path / "bad.gosv"), "-o", str(tmp_path / "c.png")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bad.gosv" in err[0]


def test_eval_table_files(tmp_path, tiny_zoo, capsys):
    out = tmp_path / "eval"
    code = main(["eval", "--models", "tiny-codec", "--teacher", "tiny-teacher", "--num-images", "2",
                 "--size", "32", "64", "--cache-dir", str(tmp_path / "cache"), "--out", str(out)])
    assert code == 0
    result = json.loads((out / "eval.json").read_text())
    assert result["results"]["codec"] == ["original (teacher tiny-teacher)", "tiny-codec"]
    payload = result["results"]["payload_kb"][1]
    assert result["results"]["bpp"][1] == pytest.approx(payload * 1000 * 8 / (32 * 64))
    assert result["results"]["miou_teacher"][0] == 1.0
    table = (out / "eval.md").read_text()
    assert "| tiny-codec |" in table and "mIoU (GT)" in table
