"""``simulate`` end to end on tiny random models: files, physics at the SNR extremes, resume, reuse, seeds."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml

from simulation.cli import main
from simulation.results import TIME_COLUMNS
from simulation.testing import TINY_CODECS, tiny_scenario

SNR = [-5, 1, 1.5, 30]  # all lost, partly lost (some images intact, some not), all intact
CODECS = [{"name": TINY_CODECS[0], "rows_per_slice": 2}, {"name": TINY_CODECS[1], "rows_per_slice": 1}]


pytestmark = pytest.mark.usefixtures("tiny_zoo_env")


def write_scenario(folder: Path, name: str = "scenario.yaml", **options) -> Path:
    options.setdefault("codecs", CODECS)
    options.setdefault("snr_db", SNR)
    options.setdefault("num_images", 3)
    path = folder / name
    path.write_text(yaml.safe_dump(tiny_scenario(**options), sort_keys=False))
    return path


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def without_time(rows: list[dict[str, str]], *, drop=()) -> list[dict[str, str]]:
    return [{k: v for k, v in row.items() if k not in TIME_COLUMNS and k not in drop} for row in rows]


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory, zoo_dir) -> tuple[Path, Path]:
    """One full run of the default tiny scenario: (scenario file, output folder)."""
    folder = tmp_path_factory.mktemp("reference")
    scenario = write_scenario(folder)
    out = folder / "out"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GOSVAE_ZOO_PATH", str(zoo_dir))
        assert main([str(scenario), "--out", str(out)]) == 0
    return scenario, out


def test_run_writes_every_result_file(reference_run):
    scenario, out = reference_run
    rows = read_csv(out / "results.csv")
    assert len(rows) == len(CODECS) * len(SNR)
    assert [r["key"] for r in rows[:2]] == ["codec=tiny-codec-r4/range;snr_db=-5", "codec=tiny-codec-r4/range;snr_db=1"]
    data = json.loads((out / "results.json").read_text())
    assert [r["key"] for r in data["rows"]] == [r["key"] for r in rows]
    assert set(data["clean"]) == {"tiny-codec-r4/range", "tiny-codec-r8/range"}
    assert data["clean"]["tiny-codec-r8/range"]["ratio"] == 8
    for name in ("miou_vs_snr", "miou_vs_payload", "ber_vs_snr", "packet_loss_vs_snr"):
        assert (out / "plots" / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
    resolved = yaml.safe_load((out / "scenario.resolved.yaml").read_text())
    assert resolved["sweep"]["snr_db"] == SNR and resolved["link"]["ldpc"]["iterations"] == 20
    manifest = json.loads((out / "manifest.json").read_text())
    assert {"torch", "sionna-no-rt", "numpy", "gosvae-sim"} <= set(manifest["versions"])
    assert manifest["seed"] == 7 and manifest["finished"] and manifest["complete"]
    assert manifest["command"] == f"simulate {scenario} --out {out}"
    assert manifest["snr_db"]["esno"].startswith("snr_db is Es/N0 in dB: average symbol energy (1")
    assert not list(out.glob("*.tmp"))
    # mIoU is stated in its label space: the tiny teacher and synthetic-urban share cityscapes-19
    assert {r["label_space"] for r in rows} == {"cityscapes-19 (identity)"}
    assert data["label_space"] == "cityscapes-19 (identity)"


def test_channel_extremes(reference_run):
    _, out = reference_run
    for row in read_csv(out / "results.csv"):
        payload, ratio = float(row["payload_bytes"]), int(row["ratio"])
        assert float(row["bpp"]) == pytest.approx(payload * 8 / (32 * 64))
        assert float(row["channel_uses_per_image"]) > payload * 8 / 2 / 0.5 * 0.99  # QPSK, rate 1/2, plus CRC
        if row["snr_db"] == "30":  # error free: exactly the clean-channel scores
            assert float(row["packet_loss_rate"]) == 0 and float(row["raw_ber"]) == 0 and float(row["images_intact"]) == 1
            assert row["miou_gt"] == row["miou_gt_clean"] and row["psnr_db"] == row["psnr_db_clean"]
            assert float(row["concealed_fraction"]) == 0
        if row["snr_db"] == "-5":  # nothing decodable
            assert float(row["packet_loss_rate"]) == 1 and float(row["images_intact"]) == 0
            assert float(row["raw_ber"]) > 0.2 and float(row["concealed_fraction"]) == 1
        assert float(row["miou_gt_ci_low"]) <= float(row["miou_gt"]) <= float(row["miou_gt_ci_high"])
    partial = [r for r in read_csv(out / "results.csv") if 0 < float(r["images_intact"]) < 1]
    assert partial, "the sweep should hold a point where some images arrive intact and others not"


def test_resume_gives_the_same_table(tmp_path, reference_run):
    scenario, out = reference_run
    resumed = tmp_path / "resumed"
    assert main([str(scenario), "--out", str(resumed), "--max-points", "3"]) == 0
    assert len(read_csv(resumed / "results.csv")) == 3
    with open(resumed / "results.csv", "a") as handle:  # a kill in the middle of writing a row
        handle.write("3,codec=tiny-codec-r4/range;snr_db=30,tiny-co")
    assert main([str(scenario), "--out", str(resumed), "--resume", "--max-points", "2"]) == 0
    assert main([str(scenario), "--out", str(resumed), "--resume"]) == 0
    assert without_time(read_csv(resumed / "results.csv")) == without_time(read_csv(out / "results.csv"))
    manifest = json.loads((resumed / "manifest.json").read_text())
    assert manifest["resumed"] and len(manifest["previous_sessions"]) == 2 and manifest["complete"]
    assert len(json.loads((resumed / "results.json").read_text())["rows"]) == len(CODECS) * len(SNR)


def test_resume_refuses_another_scenario_and_fresh_run_refuses_a_full_folder(tmp_path, reference_run, capsys):
    scenario, out = reference_run
    before = (out / "results.csv").read_text()
    assert main([str(scenario), "--out", str(out), "--resume", "--num-images", "2"]) == 2
    err = capsys.readouterr().err
    assert err == (f"error: --resume: {out} holds a run of a different scenario (dataset.num_images: 3 there, 2 now); "
                   "rerun without --resume into another --out\n")
    assert main([str(scenario), "--out", str(out)]) == 2
    assert capsys.readouterr().err == (
        f"error: --out {out}: folder exists and is not empty; add --resume to continue it or choose another --out\n")
    assert (out / "results.csv").read_text() == before


def test_reuse_of_clean_scores_changes_nothing(tmp_path, reference_run):
    scenario, out = reference_run
    assert main([str(scenario), "--out", str(tmp_path / "no_reuse"), "--no-reuse"]) == 0
    assert without_time(read_csv(tmp_path / "no_reuse" / "results.csv")) == without_time(read_csv(out / "results.csv"))
    reused = json.loads((out / "manifest.json").read_text())["counters"]
    not_reused = json.loads((tmp_path / "no_reuse" / "manifest.json").read_text())["counters"]
    assert reused["images_reused"] > 0 and not_reused["images_reused"] == 0
    assert not_reused["images_decoded"] == reused["images_decoded"] + reused["images_reused"]


def test_same_seed_same_table_in_any_point_order(tmp_path, reference_run):
    _, out = reference_run
    reversed_file = write_scenario(tmp_path, "reversed.yaml", snr_db=SNR[::-1], codecs=CODECS[::-1])
    assert main([str(reversed_file), "--out", str(tmp_path / "reversed")]) == 0
    by_key = {r["key"]: r for r in without_time(read_csv(out / "results.csv"), drop=("point",))}
    reversed_rows = without_time(read_csv(tmp_path / "reversed" / "results.csv"), drop=("point",))
    assert reversed_rows[0]["key"] == "codec=tiny-codec-r8/range;snr_db=30"
    assert {r["key"]: r for r in reversed_rows} == by_key

    other_seed = write_scenario(tmp_path, "seed.yaml", seed=8)
    assert main([str(other_seed), "--out", str(tmp_path / "seed8")]) == 0
    noisy = [(a["raw_ber"], b["raw_ber"]) for a, b in zip(read_csv(out / "results.csv"), read_csv(tmp_path / "seed8" / "results.csv"))
             if a["snr_db"] == "1"]
    assert all(a != b for a, b in noisy)  # the seed does reach the channel
