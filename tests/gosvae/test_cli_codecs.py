"""`gosvae eval --codec`, `gosvae encode --codec`, and `--export-zoo DIR` parsing."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from gosvae.cli import build_parser, main


def test_eval_accepts_codec_specs(tmp_path, tiny_zoo, capsys):
    out = tmp_path / "eval"
    code = main(["eval", "--codec", "vqvae:model=tiny-codec,coder=fixed", "--teacher", "tiny-teacher", "--num-images", "2",
                 "--size", "32", "64", "--cache-dir", str(tmp_path / "cache"), "--out", str(out)])
    assert code == 0
    result = json.loads((out / "eval.json").read_text())["results"]
    assert result["codec"] == ["original (teacher tiny-teacher)", "vqvae:model=tiny-codec,coder=fixed"]
    # fixed-length coding of K=16: 4 bits per index of an 8x16 map plus slice headers
    assert result["payload_kb"][1] * 1000 >= 8 * 16 * 4 / 8


def test_eval_and_encode_errors_are_one_line(tmp_path, tiny_zoo, capsys):
    assert main(["eval", "--codec", "nope:x=1", "--teacher", "tiny-teacher", "--num-images", "1"]) == 2
    assert capsys.readouterr().err.startswith("error: unknown codec 'nope'")
    assert main(["eval", "--codec", "vqvae:model=tiny-codec,coder=arith", "--num-images", "1"]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: codec 'vqvae:model=tiny-codec,coder=arith'.coder: Input should be 'range', 'huffman' or 'fixed', got 'arith'")
    assert main(["eval", "--num-images", "1"]) == 2
    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    assert main(["encode", str(tmp_path / "a.png"), "-o", str(tmp_path / "a.gosv"), "--codec", "jpeg:quality=30"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "codec 'jpeg' cannot be written" in err[1]
    assert main(["encode", str(tmp_path / "a.png"), "-o", str(tmp_path / "a.gosv"), "--codec", "vqvae:model=tiny-codec"]) == 0


def test_export_zoo_takes_an_optional_folder():
    parser = build_parser()
    assert parser.parse_args(["train", "c.yaml"]).export_zoo is None
    assert parser.parse_args(["train", "c.yaml", "--export-zoo"]).export_zoo == ""
    assert parser.parse_args(["train", "c.yaml", "--export-zoo", "out/dir"]).export_zoo == "out/dir"
