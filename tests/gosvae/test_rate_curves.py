"""Operating points of `gosvae eval`: codec specs with alternatives, curves, BD table, plots."""

from __future__ import annotations

import json
import math

import pytest

from gosvae.cli import main
from gosvae.errors import UserError
from gosvae.rate_curves import bd_table, expand_codec_spec, group_curves, parse_curve


def test_codec_specs_with_alternatives_expand_to_one_spec_per_point():
    curve, points = expand_codec_spec("webp:quality=5|10|20")
    assert curve == "webp:quality=*" and points == ["webp:quality=5", "webp:quality=10", "webp:quality=20"]
    assert expand_codec_spec("jpeg:quality=30") == ("jpeg:quality=30", ["jpeg:quality=30"])
    with pytest.raises(UserError, match="only one parameter may list alternatives"):
        expand_codec_spec("jpeg:quality=5|10,subsampling=4:2:0|4:4:4")
    with pytest.raises(UserError, match="expected KEY=a"):
        expand_codec_spec("jpeg:quality=5||10")
    assert parse_curve("VQ=a,b , c") == ("VQ", ["a", "b", "c"])
    with pytest.raises(UserError, match="expected LABEL=MODEL"):
        parse_curve("no-models=")


def _curve(name, bpps, mious, psnrs):
    return [{"curve": name, "codec": f"{name}{i}", "bpp": b, "miou_gt": m, "psnr_db": p}
            for i, (b, m, p) in enumerate(zip(bpps, mious, psnrs))]


def test_bd_table_against_exact_rate_factors_and_quality_offsets():
    base = [0.05, 0.1, 0.2, 0.4]
    rows = _curve("ref", base, [0.2, 0.3, 0.4, 0.5], [25, 28, 31, 34])
    rows += _curve("half", [b / 2 for b in base], [0.2, 0.3, 0.4, 0.5], [25, 28, 31, 34])  # same quality, half the bits
    rows += _curve("better", base, [0.25, 0.35, 0.45, 0.55], [26, 29, 32, 35])            # +0.05 mIoU, +1 dB
    rows += _curve("two", [0.1, 0.2], [0.3, 0.4], [28, 31])
    curves = group_curves(list(reversed(rows)))
    assert [r["bpp"] for r in curves["ref"]] == base  # sorted by rate
    for method in ("pchip", "cubic"):
        table = {r["curve"]: r for r in bd_table(curves, reference="ref", method=method)}
        assert table["half"]["bd_rate_miou"] == pytest.approx(-50.0) and table["half"]["bd_rate_psnr"] == pytest.approx(-50.0)
        assert table["better"]["bd_miou"] == pytest.approx(0.05) and table["better"]["bd_psnr"] == pytest.approx(1.0)
    cubic = {r["curve"]: r for r in bd_table(curves, reference="ref", method="cubic")}
    assert math.isnan(cubic["two"]["bd_miou"])  # cubic needs four points
    limited = {r["curve"]: r for r in bd_table(curves, reference="ref", max_bpp=0.15)}
    assert limited["better"]["bd_miou"] == pytest.approx(0.05)
    with pytest.raises(UserError, match="--bd-reference 'nope' is not one of the curves"):
        bd_table(curves, reference="nope")


def test_eval_over_operating_points_writes_curves_bd_table_and_plots(tmp_path, tiny_zoo, capsys):
    out = tmp_path / "eval"
    code = main(["eval", "--codec", "jpeg:quality=10|40|70|95", "--codec", "webp:quality=10|40|70|95",
                 "--curve", "tiny=tiny-codec", "--teacher", "tiny-teacher", "--num-images", "2", "--size", "32", "64",
                 "--cache-dir", str(tmp_path / "cache"), "--out", str(out), "--bd-reference", "jpeg:quality=*"])
    assert code == 0
    result = json.loads((out / "eval.json").read_text())
    assert list(result["curves"]) == ["jpeg:quality=*", "webp:quality=*", "tiny"]
    jpeg = result["curves"]["jpeg:quality=*"]
    assert [p["codec"] for p in jpeg] == [f"jpeg:quality={q}" for q in (10, 40, 70, 95)]
    assert [p["bpp"] for p in jpeg] == sorted(p["bpp"] for p in jpeg)
    bd = {row["curve"]: row for row in result["bd"]["rows"]}
    assert set(bd) == {"webp:quality=*", "tiny"} and math.isfinite(bd["webp:quality=*"]["bd_psnr"])
    for name in ("rate_miou.png", "rate_psnr.png"):
        assert (out / "plots" / name).read_bytes()[:4] == b"\x89PNG"
    report = (out / "eval.md").read_text()
    assert "mIoU in cityscapes-19" in report and "BD figures against `jpeg:quality=*`" in report


def test_eval_refuses_a_teacher_of_another_label_space(tmp_path, tiny_zoo, capsys):
    import torch

    from gosvae.teachers import UrbanUNet
    from gosvae.zoo import save_zoo_entry

    torch.manual_seed(0)
    other = UrbanUNet(num_classes=3, widths=(4, 4, 8, 8), class_names=("a", "b", "c")).freeze()
    save_zoo_entry(state_dict=other.state_dict(), directory=tiny_zoo,
                   metadata={"name": "abc-teacher", "kind": "teacher", "arch": "urban-unet", "arch_config": other.config,
                             "config": "-", "command": "-", "data": {}, "steps": 0})
    code = main(["eval", "--codec", "jpeg:quality=50", "--teacher", "abc-teacher", "--num-images", "1", "--size", "32", "64",
                 "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "eval")])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: the teacher predicts custom-3 classes but the dataset is labelled in cityscapes-19")
    assert "\n" not in err
