"""Scenario schema and sweep: one-line errors for malformed files, sweep expansion, keys and seeds."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import numpy as np
import pytest
import yaml

from channels import CHANNELS
from simulation.cli import main
from simulation.link import LinkConfig
from simulation.scenario import load_scenario
from simulation.sweep import SweepAxis, expand_points, parse_sweep, point_seed
from simulation.testing import TINY_CODECS, TINY_TEACHER, tiny_scenario


pytestmark = pytest.mark.usefixtures("tiny_zoo_env")


def _with(changes: dict) -> dict:
    """The tiny scenario with dotted-path ``changes`` applied (value ``...`` deletes the key)."""
    data = copy.deepcopy(tiny_scenario(channel={"model": "rayleigh", "params": {"fading": "block", "coherence_symbols": 8}}))
    for path, value in changes.items():
        node = data
        *parents, last = path.split("/")
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if value is ...:
            del node[last]
        elif isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    return data


def _zoo_names() -> str:
    from gosvae.zoo import list_entries

    return ", ".join(e.name for e in list_entries())


def _teacher_names() -> str:
    from gosvae.zoo import list_entries

    return ", ".join(e.name for e in list_entries(kind="teacher"))


LINK_FIELDS = ", ".join(LinkConfig.model_fields)
MODULATIONS = "'bpsk', 'qpsk', '16qam', '64qam', '256qam' or '1024qam'"

# (case id, scenario dict or raw text, expected message after "error: "; {file} is the path)
CASES = [
    ("unknown-top-level-key", _with({"nmae": "x"}),
     "{file}: nmae: unknown field (known: name, description, seed, dataset, teacher, teacher_precision, label_mapping, codecs, link, channel, sweep)"),
    ("unknown-link-key", _with({"link/modulaton": "qpsk"}), "{file}: link.modulaton: unknown field (known: " + LINK_FIELDS + ")"),
    ("link-rate-too-high", _with({"link/rate": 1.5}), "{file}: link.rate: must be within [0.2, 0.925] for code 'ldpc', got 1.5"),
    ("bad-modulation", _with({"link/modulation": "17qam"}), "{file}: link.modulation: must be " + MODULATIONS + ", got '17qam'"),
    ("seed-wrong-type", _with({"seed": "abc"}), "{file}: seed: must be an integer, got 'abc'"),
    ("num-images-zero", _with({"dataset/num_images": 0}), "{file}: dataset.num_images: must be > 0, got 0"),
    ("size-one-number", _with({"dataset/size": [32]}), "{file}: dataset.size: must be [height, width], got [32]"),
    ("dataset-section-not-mapping", _with({"dataset": "synthetic-urban"}), "{file}: dataset: must be a mapping (key: value), got 'synthetic-urban'"),
    ("unknown-dataset", _with({"dataset/name": "mnist"}), "{file}: dataset.name: unknown dataset 'mnist' (known: {datasets})"),
    ("unknown-channel-model", _with({"channel/model": "rayleighh"}), "{file}: channel.model: unknown channel model 'rayleighh' (known: {channels})"),
    ("bad-channel-param", _with({"channel/params/coherence_symbols": 0}), "{file}: channel.params.coherence_symbols: must be >= 1, got 0"),
    ("unknown-channel-param", _with({"channel/params": {"fadin": "block"}}),
     "{file}: channel.params.fadin: unknown field (known: fading, coherence_symbols)"),
    ("unknown-codec", _with({"codecs/0/name": "nope-r4"}), "{file}: codecs[0].name: no model 'nope-r4' in the zoo (available: {zoo}); see `gosvae zoo`"),
    ("codec-is-a-teacher", _with({"codecs/0/name": TINY_TEACHER}), "{file}: codecs[0].name: zoo model 'tiny-teacher' is a teacher, not a codec"),
    ("bad-source-coder", _with({"codecs/0/source_coder": "arith"}), "{file}: codecs[0].source_coder: must be 'range', 'huffman' or 'fixed', got 'arith'"),
    ("no-codecs", _with({"codecs": []}), "{file}: codecs: must have at least 1 item, got []"),
    ("duplicate-curve-label", _with({"codecs": [{"name": TINY_CODECS[0]}, {"name": TINY_CODECS[0]}]}),
     "{file}: codecs[1].name: curve label 'tiny-codec-r4/range' is also used by codecs[0]; give each codec entry a distinct label"),
    ("unknown-teacher", _with({"teacher": "nope"}), "{file}: teacher: unknown teacher 'nope': give a zoo teacher ({teachers}) or a local folder"),
    ("size-not-divisible", _with({"dataset/size": [32, 72]}),
     "{file}: dataset.size: teacher 'tiny-teacher' needs height and width divisible by 16, got [32, 72]"),
    ("bad-name", _with({"name": "a/b"}),
     "{file}: name: must be a plain name (letters, digits, '.', '_', '-'; it names the output folder), got 'a/b'"),
    ("sweep-without-snr", _with({"sweep": {"link.modulation": ["qpsk"]}}),
     "{file}: sweep.snr_db: required field is missing (the SNR axis in dB: a list like [0, 5, 10] or {{start: 0, stop: 20, step: 2}})"),
    ("sweep-unknown-path", _with({"sweep/link.modulaton": ["qpsk"]}), "{file}: sweep.link.modulaton: no such field (link fields: " + LINK_FIELDS + ")"),
    ("sweep-not-sweepable", _with({"sweep/dataset.num_images": [2, 4]}),
     "{file}: sweep.dataset.num_images: cannot be swept: all points share the same images (write one scenario per dataset)"),
    ("sweep-bad-value", _with({"sweep/link.modulation": ["qpsk", "17qam"]}),
     "{file}: sweep.link.modulation: must be " + MODULATIONS + ", got '17qam'"),
    ("sweep-value-breaks-other-field", _with({"sweep/link.code": ["ldpc", "none"]}),
     "{file}: sweep.link.code: value 'none' makes link.rate invalid: must be 1 (or left out) without a channel code, got 0.5"),
    ("sweep-bad-channel-param", _with({"sweep/channel.params.coherence_symbols": [4, 0]}),
     "{file}: sweep.channel.params.coherence_symbols: must be >= 1, got 0"),
    ("sweep-empty-list", _with({"sweep/snr_db": []}), "{file}: sweep.snr_db: must list at least one value, got []"),
    ("sweep-step-zero", _with({"sweep/snr_db": {"start": 0, "stop": 10, "step": 0}}), "{file}: sweep.snr_db.step: must be > 0, got 0"),
    ("sweep-start-after-stop", _with({"sweep/snr_db": {"start": 10, "stop": 0, "step": 2}}),
     "{file}: sweep.snr_db: start must be <= stop, got start 10 and stop 0"),
    ("sweep-snr-not-number", _with({"sweep/snr_db": [0, "high"]}), "{file}: sweep.snr_db[1]: must be a finite number (dB), got 'high'"),
    ("sweep-duplicate-value", _with({"sweep/snr_db": [0, 5, 5.0]}), "{file}: sweep.snr_db: value 5 appears more than once"),
    ("yaml-syntax", "name: x\nseed: [1, 2\ncodecs: []\n", "{file}: invalid YAML (line 3, column 7): expected ',' or ']', but got ':'"),
    ("top-level-list", "- name: x\n", "{file}: expected a mapping of scenario fields at the top level, got list"),
    ("empty-file", "", "{file}: the file is empty; expected a scenario (name, codecs, sweep, ...)"),
]


@pytest.mark.parametrize("content, expected", [pytest.param(c, e, id=i) for i, c, e in CASES])
def test_malformed_scenario_gives_one_line_error_and_exit_code_2(tmp_path, capsys, content, expected):
    import gosvae.datasets  # noqa: F401 - registers the datasets named in messages
    from gosvae.registry import DATASETS

    path = tmp_path / "scenario.yaml"
    path.write_text(content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False))
    message = expected.format(
        file=path, zoo=_zoo_names(), teachers=_teacher_names(), channels=", ".join(CHANNELS.names()),
        datasets=", ".join(DATASETS.names()),
    )
    code = main([str(path), "--out", str(tmp_path / "out")])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.err == f"error: {message}\n"
    assert "Traceback" not in captured.err + captured.out
    assert not (tmp_path / "out").exists()  # nothing ran, nothing written


def test_missing_file_and_bad_options_are_one_line_errors(tmp_path, capsys):
    missing = tmp_path / "nope.yaml"
    assert main([str(missing)]) == 2
    assert capsys.readouterr().err == f"error: {missing}: file not found\n"
    assert main([str(missing), "--num-images", "0"]) == 2
    assert capsys.readouterr().err == "error: argument --num-images: must be a positive integer, got '0' (see simulate --help)\n"
    assert main([]) == 2
    assert capsys.readouterr().err == "error: missing SCENARIO: give a scenario YAML file (see scenarios/), --list-channels or --list-codecs\n"


def test_list_channels_shows_models_with_parameters(capsys):
    assert main(["--list-channels"]) == 0
    out = capsys.readouterr().out
    assert "awgn (built-in): additive white Gaussian noise" in out
    assert "rayleigh (built-in): flat Rayleigh fading" in out
    assert "    fading: 'fast' | 'block' = 'fast'" in out
    assert "    coherence_symbols: int = 1 (>= 1) -- symbols sharing one gain (block fading only)" in out
    awgn_block = out.split("awgn (built-in)")[1].split("\n")[1]
    assert awgn_block == "    parameters: none"


def test_ranges_expand_with_stop_included_and_clean_floats():
    axes = parse_sweep({"snr_db": {"start": 0, "stop": 1, "step": 0.1}, "link.rate": {"start": 0.5, "stop": 0.8, "step": 0.25}},
                       source="x.yaml")
    assert axes[0] == SweepAxis("snr_db", tuple(round(0.1 * i, 9) for i in range(11)))
    assert axes[0].values[3] == 0.3  # not 0.30000000000000004
    assert axes[1].values == (0.5, 0.75)
    assert parse_sweep({"snr_db": 7}, source="x.yaml")[0].values == (7,)


def test_points_order_keys_and_seeds_are_stable(tmp_path):
    axes = parse_sweep({"snr_db": [0, 10], "link.modulation": ["qpsk", "16qam"]}, source="x.yaml")
    points = expand_points(axes, ["a", "b"])
    assert [p.key for p in points[:4]] == [
        "codec=a;link.modulation=qpsk;snr_db=0",
        "codec=a;link.modulation=qpsk;snr_db=10",
        "codec=a;link.modulation=16qam;snr_db=0",
        "codec=a;link.modulation=16qam;snr_db=10",
    ]
    assert len(points) == 8 and [p.index for p in points] == list(range(8))
    # Same key whatever the order of the axes in the file; the seed depends on seed and key only.
    swapped = expand_points(parse_sweep({"link.modulation": ["qpsk", "16qam"], "snr_db": [0, 10]}, source="x"), ["a", "b"])
    assert sorted(p.key for p in swapped) == sorted(p.key for p in points)
    assert point_seed(1234, "codec=a;snr_db=0") == 8129278240049447592  # SHA-256 based: fixed forever
    assert points[0].seed(1) != points[0].seed(2) != points[1].seed(2)
    g1, g2 = points[0].generator(5), points[0].generator(5)
    assert g1.initial_seed() == g2.initial_seed()


def test_resolved_scenario_fills_defaults_and_labels(tmp_path):
    path = tmp_path / "s.yaml"
    data = _with({"sweep/link.modulation": ["qpsk", "16qam"], "codecs": [{"name": TINY_CODECS[0], "label": "mine"},
                                                                         {"name": TINY_CODECS[1]}]})
    path.write_text(yaml.safe_dump(data))
    loaded = load_scenario(path, num_images=3)
    resolved = loaded.resolved()
    assert resolved["dataset"]["num_images"] == 3
    assert [c["label"] for c in resolved["codecs"]] == ["mine", "tiny-codec-r8/range"]
    assert resolved["link"]["ldpc"]["iterations"] == 20  # defaults made explicit
    assert resolved["channel"] == {"model": "rayleigh", "params": {"fading": "block", "coherence_symbols": 8}}
    assert resolved["sweep"] == {"snr_db": [-5, 30], "link.modulation": ["qpsk", "16qam"]}
    assert loaded.swept_paths == ["snr_db", "link.modulation"]
    assert len(loaded.points) == 2 * 2 * 2


REPO = Path(__file__).resolve().parents[2]
SHIPPED = sorted((REPO / "scenarios").glob("*.yaml"))


def test_the_default_scenario_and_the_documented_ones_ship():
    names = {p.name for p in SHIPPED}
    assert {"urban_rayleigh.yaml", "awgn.yaml", "compression_ratio.yaml", "entropy_vs_fixed.yaml",
            "urban_tdl.yaml"} <= names


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_every_shipped_scenario_validates_against_the_zoo_and_expands(path, tmp_path, monkeypatch):
    if "CAMVID_ROOT" not in os.environ and not (REPO.parent / "shared" / "datasets" / "camvid").is_dir():
        # real-photo scenarios name their data folder by ${CAMVID_ROOT:-...}; validation needs a folder
        monkeypatch.setenv("CAMVID_ROOT", str(tmp_path))
    loaded = load_scenario(path)  # zoo codecs and teacher checked too
    assert loaded.points, f"{path.name}: no sweep points"
    assert "snr_db" in loaded.swept_paths
    resolved = loaded.resolved()
    assert resolved["name"] == path.stem
    assert len(loaded.points) == len(resolved["codecs"]) * np.prod([len(v) for v in resolved["sweep"].values()])
