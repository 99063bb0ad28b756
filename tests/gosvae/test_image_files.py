"""`gosvae encode` / `gosvae decode` round trip, and `gosvae eval` writing its table."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from gosvae.cli import main
from gosvae.codecs.vqvae import load_codec
from gosvae.image_files import decode_image_file, encode_image_file, read_image
from gosvae.source_coding.container import read_container


def _write_png(path, height: int, width: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(path)


def test_file_round_trip_indices_are_exact_and_size_kept(tmp_path, tiny_zoo):
    _write_png(tmp_path / "in.png", 30, 45)  # not a multiple of r=4: padded, then cropped back
    sent = encode_image_file(tmp_path / "in.png", tmp_path / "x.gosv", model="tiny-codec")
    got = decode_image_file(tmp_path / "x.gosv", tmp_path / "out.png")
    np.testing.assert_array_equal(got.indices, sent.indices)
    assert sent.indices.shape == (8, 12) and got.concealed_fraction == 0.0
    assert Image.open(tmp_path / "out.png").size == (45, 30)
    contents = read_container(tmp_path / "x.gosv")
    assert contents.model_id == "tiny-codec" and contents.image_size == (30, 45) and contents.index_shape == (8, 12)
    assert sent.file_bytes == (tmp_path / "x.gosv").stat().st_size

    # the decoded file is the codec's reconstruction of the padded image, cropped (8-bit rounding)
    codec = load_codec("tiny-codec")
    x = torch.nn.functional.pad(read_image(tmp_path / "in.png"), (0, 3, 0, 2), mode="replicate")
    expected = codec.decode_from_indices(codec.encode_indices(x))[0, :, :30, :45]
    torch.testing.assert_close(read_image(tmp_path / "out.png")[0], expected, atol=1 / 255 + 1e-6, rtol=0)


def test_cli_encode_decode_and_one_line_errors(tmp_path, tiny_zoo, capsys):
    _write_png(tmp_path / "in.png", 32, 64)
    assert main(["encode", str(tmp_path / "in.png"), "-o", str(tmp_path / "a.gosv"), "--model", "tiny-codec",
                 "--coder", "fixed"]) == 0
    assert main(["decode", str(tmp_path / "a.gosv"), "-o", str(tmp_path / "a.png")]) == 0
    assert "a.gosv" in capsys.readouterr().out
    assert main(["encode", str(tmp_path / "missing.png"), "-o", str(tmp_path / "b.gosv")]) == 2
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
