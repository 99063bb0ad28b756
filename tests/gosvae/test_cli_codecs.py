"""`gosvae eval --codec`, `gosvae encode --codec` / `gosvae decode` with any codec, and `--export-zoo DIR` parsing."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from gosvae.cli import build_parser, main
from gosvae.source_coding.container import read_container


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
        "error: codec 'vqvae:model=tiny-codec,coder=arith'.coder: must be 'range', 'huffman' or 'fixed', got 'arith'")
    assert main(["eval", "--num-images", "1"]) == 2
    capsys.readouterr()
    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    encode = ["encode", str(tmp_path / "a.png"), "-o", str(tmp_path / "a.gosv")]
    for extra, message in [
        (["--codec", "jpeg:quality=30", "--coder", "fixed"], "coder (model, coder, rows_per_slice) belong to the vqvae codec only"),
        (["--codec", "jpeg:quality=300"], "codec 'jpeg:quality=300'.quality: must be <= 100, got 300"),
        (["--codec", "nope"], "unknown codec 'nope'"),
        (["--codec", "vqvae:model=no-such-model"], "no model 'no-such-model' in the zoo"),
    ]:
        assert main(encode + extra) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err
    assert not (tmp_path / "a.gosv").exists()
    assert main(encode + ["--codec", "vqvae:model=tiny-codec"]) == 0


def _png(path, height: int = 20, width: int = 30) -> str:
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)).save(path)
    return str(path)


def test_encode_decode_any_codec_through_the_cli(tmp_path, tiny_zoo, capsys):
    image = _png(tmp_path / "in.png")
    for spec in ["jpeg:quality=30", "webp:quality=50", "vqvae:model=tiny-codec,coder=huffman"]:
        name = spec.split(":")[0]
        assert main(["encode", image, "-o", str(tmp_path / f"{name}.gosv"), "--codec", spec]) == 0
        stored = read_container(tmp_path / f"{name}.gosv").codec_spec  # every parameter, validated
        assert stored.startswith(f"{name}:") and all(item in stored.split(":", 1)[1].split(",") for item in spec.split(":")[1].split(","))
        out = capsys.readouterr().out
        assert f"-> {tmp_path / f'{name}.gosv'}:" in out and " payload, " in out and f"bpp), codec {stored}\n" in out
        assert main(["decode", str(tmp_path / f"{name}.gosv"), "-o", str(tmp_path / f"{name}.png")]) == 0
        out = capsys.readouterr().out
        assert "(20x30): " in out and "payload bytes" in out and f"bpp, codec {stored}\n" in out and "concealed" not in out
        assert Image.open(tmp_path / f"{name}.png").size == (30, 20)
    # the shorthand flags are the vqvae codec
    assert main(["encode", image, "-o", str(tmp_path / "s.gosv"), "--model", "tiny-codec", "--coder", "huffman"]) == 0
    assert (tmp_path / "s.gosv").read_bytes() == (tmp_path / "vqvae.gosv").read_bytes()


def test_bad_output_paths_are_one_line_errors(tmp_path, capsys):
    image = _png(tmp_path / "in.png")
    assert main(["encode", image, "-o", str(tmp_path / "ok.gosv"), "--codec", "jpeg"]) == 0
    capsys.readouterr()
    cases = [
        (["encode", image, "-o", str(tmp_path), "--codec", "jpeg"], "is a folder, expected a file name"),
        (["encode", image, "-o", str(tmp_path / "in.png" / "x.gosv"), "--codec", "jpeg"], "in.png is a file, not a folder"),
        (["decode", str(tmp_path / "ok.gosv"), "-o", str(tmp_path / "out.xyz")], "unknown image extension '.xyz'"),
        (["decode", str(tmp_path / "ok.gosv"), "-o", str(tmp_path / "out")], "unknown image extension '(none)'"),
        (["decode", str(tmp_path / "ok.gosv"), "-o", str(tmp_path)], "is a folder, expected a file name"),
        (["decode", str(tmp_path / "ok.gosv"), "-o", str(tmp_path / "in.png" / "a" / "x.png")], "in.png is a file, not a folder"),
    ]
    for argv, message in cases:
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: -o ") and message in err[0], err
    assert main(["decode", str(tmp_path / "ok.gosv"), "-o", str(tmp_path / "new" / "dir" / "out.jpg")]) == 0


def test_decode_parser_has_allow_model_paths():
    parser = build_parser()
    assert parser.parse_args(["decode", "f.gosv", "-o", "x.png"]).allow_model_paths is False
    assert parser.parse_args(["decode", "f.gosv", "-o", "x.png", "--allow-model-paths"]).allow_model_paths is True
    args = parser.parse_args(["encode", "x.png", "-o", "f.gosv"])
    assert args.codec is None and args.model is None and args.coder is None and args.rows_per_slice is None


def test_export_zoo_takes_an_optional_folder():
    parser = build_parser()
    assert parser.parse_args(["train", "c.yaml"]).export_zoo is None
    assert parser.parse_args(["train", "c.yaml", "--export-zoo"]).export_zoo == ""
    assert parser.parse_args(["train", "c.yaml", "--export-zoo", "out/dir"]).export_zoo == "out/dir"
