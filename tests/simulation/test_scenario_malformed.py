"""Malformed and hostile scenarios: each is refused before anything runs, in one line naming the
file and the field, and quickly whatever it asks for (alias bombs, huge sweeps, huge numbers).

The bombs here are small files that would take minutes or hours (or all the memory) without the
bounds; the suite finishing is the check that they are refused fast (no timed asserts)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gosvae.errors import ConfigError, bounded_repr
from simulation.cli import main
from simulation.scenario import load_scenario
from simulation.scenario_checks import MAX_NUM_IMAGES, MAX_POINT_IMAGES, MAX_POINTS, checked_num_images
from simulation.testing import tiny_scenario


pytestmark = pytest.mark.usefixtures("tiny_zoo_env")


BASE = yaml.safe_dump(tiny_scenario(), sort_keys=False)


def _bomb(levels: int = 9, width: int = 10) -> str:
    """A flow list of ``levels`` anchors, each ``width`` aliases of the one before: 10⁹ values in 400 bytes."""
    items = ["&a0 [" + ", ".join(["lol"] * width) + "]"]
    items += [f"&a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]" for i in range(1, levels)]
    return "[" + ", ".join(items) + "]"


def _with_lines(*lines: str) -> str:
    return BASE + "".join(line + "\n" for line in lines)


def _replace(old: str, new: str) -> str:
    assert old in BASE, old
    return BASE.replace(old, new, 1)


SNR = "  snr_db:\n  - -5\n  - 30\n"

# (case id, file text, expected fragment of the one-line message after "error: {file}: ")
CASES = [
    # YAML: bounded before validation
    ("alias-bomb-in-description", _with_lines(f"description: {_bomb()}"), "stands for more than 100000 values once its aliases"),
    ("alias-bomb-as-unknown-key", _with_lines(f"junk: {_bomb()}"), "stands for more than 100000 values once its aliases"),
    ("alias-bomb-in-channel-params", _replace("channel:\n  model: awgn\n", f"channel:\n  model: awgn\n  params: {{x: {_bomb()}}}\n"),
     "stands for more than 100000 values once its aliases"),
    ("alias-bomb-as-sweep-value", _replace(SNR, SNR + f"  link.rate: {_bomb()}\n"), "stands for more than 100000 values"),
    ("recursive-alias", _with_lines("description: &a [*a]"), "description[0]: a recursive alias"),
    ("deep-flow-nesting", _with_lines("description: " + "[" * 200_000), "nested more than 64 levels of [ ] or {{ }}"),
    ("deep-block-nesting", _with_lines("description:", *(" " * (i + 1) + f"k{i}:" for i in range(70)), " " * 71 + "x"),
     "nested more than 64 levels"),
    ("file-too-large", BASE + "#" * (1 << 20), "larger than 1048576 bytes"),
    ("not-utf8-in-a-comment", None, "not UTF-8 text (byte 0xe9 on line"),
    ("duplicate-top-level-key", _with_lines("seed: 8"), "seed: duplicate key (line"),
    ("duplicate-nested-key", _replace("  rate: 0.5\n", "  rate: 0.5\n  rate: 0.6\n"), "link.rate: duplicate key (line"),
    ("integer-beyond-digit-limit", _replace("seed: 7", "seed: " + "9" * 5000), "invalid YAML value: an integer of more than 4300 digits"),
    # bounded sizes and sweeps
    ("sweep-product-1e4-by-1e4", _replace(SNR, "  snr_db: {start: 0, stop: 99.99, step: 0.01}\n"
                                               "  link.rate: {start: 0.3, stop: 0.8, step: 0.0001}\n"),
     f"sweep: 50010000 points (1 codec(s) x 10000 snr_db x 5001 link.rate), more than the {MAX_POINTS}"),
    ("points-times-images-over-the-cap", _replace("num_images: 2", "num_images: 60000"),
     f"sweep: 2 points x 60000 images = 120000 image transmissions, more than {MAX_POINT_IMAGES}"),
    ("num-images-1e12", _replace("num_images: 2", "num_images: 1000000000000"),
     f"dataset.num_images: must be <= {MAX_NUM_IMAGES}, got 1000000000000"),
    ("size-65536-squared", _replace("- 32\n  - 64\n", "- 65536\n  - 65536\n"),
     "dataset.size: must be at most 8192 pixels per side and 33554432 pixels in all, got [65536, 65536]"),
    ("snr-range-overflow", _replace(SNR, "  snr_db: {start: -1.0e+308, stop: 1.0e+308, step: 1.0e+300}\n"),
     "sweep.snr_db: the range from -1e+308 to 1e+308 by 1e+300 has more than 10000 values"),
    ("snr-1e308", _replace(SNR, "  snr_db: [1.0e+308]\n"), "sweep.snr_db[0]: must lie within [-100, 100] dB, got 1e+308"),
    ("snr-400-digit-integer", _replace(SNR, "  snr_db: [" + "9" * 400 + "]\n"), "sweep.snr_db[0]: must be a finite number (dB), got 9999"),
    ("sweep-list-too-long", _replace(SNR, "  snr_db: [" + ", ".join(str(i % 200 - 100) for i in range(10_001)) + "]\n"),
     "sweep.snr_db: lists 10001 values, more than 10000"),
    ("sweep-duplicate-in-a-long-list", _replace(SNR, "  snr_db: [" + ", ".join(f"{i / 100:.2f}" for i in range(9_999)) + ", 0]\n"),
     "sweep.snr_db: value 0 appears more than once"),
    # checked before the run starts, with the field path
    ("bogus-split", _replace("split: val", "split: bogus"),
     "dataset.split: synthetic-urban: unknown split 'bogus'; expected one of 'train', 'val', 'test'"),
    ("teacher-folder-without-model", None, "teacher: folder {folder} holds no model (missing config.json"),
    ("num-images-negative", _replace("num_images: 2", "num_images: -5"), "dataset.num_images: must be > 0, got -5"),
    ("num-images-text", _replace("num_images: 2", "num_images: twelve"), "dataset.num_images: must be an integer, got 'twelve'"),
    # offending values are formatted within bounds
    ("huge-string-in-a-number-field", _replace("seed: 7", "seed: " + "x" * 500_000), "seed: must be an integer, got 'xxxxxxx"),
    ("long-unknown-key", _with_lines("k" * 1000 + ": 1"), "kkkkkkkk...: unknown field (known: name, description"),
]


def _write(tmp_path: Path, case: str, text: str | None) -> Path:
    path = tmp_path / "scenario.yaml"
    if case == "not-utf8-in-a-comment":
        path.write_bytes(BASE.encode() + b"# caf\xe9\n")
    elif case == "teacher-folder-without-model":
        (tmp_path / "empty-teacher").mkdir()
        path.write_text(_replace("teacher: tiny-teacher", f"teacher: {tmp_path / 'empty-teacher'}"))
    else:
        path.write_text(text)
    return path


@pytest.mark.parametrize(("case", "text", "fragment"), CASES, ids=[c[0] for c in CASES])
def test_malformed_scenario_is_refused_in_one_line_before_anything_runs(tmp_path, capsys, case, text, fragment):
    path = _write(tmp_path, case, text)
    code = main([str(path), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith(f"error: {path}: ") and err.count("\n") == 1 and len(err) < 600, err[:300]
    assert fragment.format(folder=tmp_path / "empty-teacher") in err
    assert not (tmp_path / "out").exists()


def test_the_base_scenario_of_the_table_is_valid(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(BASE)
    assert len(load_scenario(path).points) == 2


def test_a_folder_given_as_the_scenario(tmp_path, capsys):
    assert main([str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err == f"error: {tmp_path}: is a folder, expected a YAML file\n"


@pytest.mark.parametrize(("file_value", "override", "message"), [
    ("-5", 1, "dataset.num_images: must be > 0, got -5"),         # the file is checked, override or not
    ("twelve", 1, "dataset.num_images: must be an integer, got 'twelve'"),
    ("2", 99999999999999999999, f"--num-images: must be <= {MAX_NUM_IMAGES}, got 99999999999999999999"),
    ("2", 0, "--num-images: must be > 0, got 0"),
    ("2", 60000, "2 points x 60000 images = 120000 image transmissions"),
])
def test_the_num_images_override_is_validated_like_the_file(tmp_path, file_value, override, message):
    path = tmp_path / "s.yaml"
    path.write_text(_replace("num_images: 2", f"num_images: {file_value}"))
    with pytest.raises(ConfigError) as info:
        load_scenario(path, num_images=override)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_the_command_line_override_too(tmp_path, capsys):
    path = tmp_path / "s.yaml"
    path.write_text(BASE)
    assert main([str(path), "--num-images", "99999999999999999999", "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err == f"error: --num-images: must be <= {MAX_NUM_IMAGES}, got 99999999999999999999\n"


def test_an_override_that_fits_replaces_the_files_value(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(BASE)
    assert load_scenario(path, num_images="3").scenario.dataset.num_images == 3
    assert load_scenario(path).scenario.dataset.num_images == 2


def test_allow_large_lifts_the_points_times_images_cap_only(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(_replace("num_images: 2", "num_images: 60000"))
    loaded = load_scenario(path, allow_large=True)
    assert len(loaded.points) * loaded.scenario.dataset.num_images == 120_000
    path.write_text(_replace(SNR, "  snr_db: {start: 0, stop: 99.99, step: 0.01}\n  link.rate: {start: 0.3, stop: 0.8, step: 0.0001}\n"))
    with pytest.raises(ConfigError, match=f"more than the {MAX_POINTS} a scenario may have"):
        load_scenario(path, allow_large=True)


def test_checked_num_images_accepts_numbers_and_their_text():
    assert checked_num_images(5) == checked_num_images("5") == checked_num_images(" 5 ") == 5
    for bad, message in [(True, "must be an integer"), ("1e3", "must be an integer"), (2.5, "must be an integer"),
                         ("9" * 5000, "unable to parse input string as an integer")]:
        with pytest.raises(ConfigError, match=f"^--num-images: {message}"):
            checked_num_images(bad)


def test_a_valid_scenario_with_anchors_and_merge_keys_still_loads(tmp_path):
    text = _replace("name: tiny\n", "name: &n tiny\n").replace("link:\n", "link:\n  <<: {crc: CRC16, code: ldpc}\n", 1)
    path = tmp_path / "s.yaml"
    path.write_text(text + "description: *n\n")
    scenario = load_scenario(path).scenario
    assert scenario.description == "tiny" and scenario.link.crc == "CRC24A"  # the explicit key wins over <<


@pytest.mark.parametrize("value", [
    [[0] * 1000] * 1000,
    {"k": list(range(10**5))},
    "x" * 10**6,
])
def test_offending_values_are_formatted_within_bounds(value):
    text = bounded_repr(value, 60)
    assert len(text) <= 60 and text == (repr(value)[:57] + "...")


def test_offending_values_of_an_alias_bomb_are_formatted_within_bounds():
    bomb = yaml.safe_load(f"x: {_bomb(levels=9)}")["x"]  # shared lists: 10⁹ strings when printed in full
    assert bounded_repr(bomb, 60).startswith("[['lol', 'lol'") and len(bounded_repr(bomb, 60)) == 60
    recursive: list = []
    recursive.append(recursive)
    assert bounded_repr(recursive) == repr(recursive) == "[[...]]"

