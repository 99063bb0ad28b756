"""Sweeps over list-valued parameters (a TDL ``speed_kmh`` range): each sweep value is a list."""

from __future__ import annotations

import csv
import json

import pytest
import yaml

from gosvae.errors import ConfigError
from simulation.cli import main
from simulation.scenario import validate_scenario
from simulation.sweep import ListValue, format_value, parse_sweep
from simulation.testing import tiny_scenario

TDL = {"model": "tdl", "params": {"model": "A", "fft_size": 64}}


def load(sweep: dict, channel: dict = TDL):
    return validate_scenario(tiny_scenario(channel=channel, snr_db=[10], sweep=sweep), source="x.yaml", check_models=False)


def test_list_values_become_points_with_list_keys_and_plain_resolved_lists():
    loaded = load({"channel.params.speed_kmh": [[0, 30], [0, 120.0], 5]})
    speeds = [dict(p.values)["channel.params.speed_kmh"] for p in loaded.points]
    assert speeds == [ListValue([0, 30]), ListValue([0, 120.0]), 5]
    assert [p.key.split(";")[1] for p in loaded.points] == [
        "channel.params.speed_kmh=[0, 30]", "channel.params.speed_kmh=[0, 120]", "channel.params.speed_kmh=5"]
    assert str(speeds[0]) == "[0, 30]" and format_value(speeds[1]) == "[0, 120]"
    assert json.loads(json.dumps(speeds[0])) == [0, 30]
    resolved = loaded.resolved()["sweep"]["channel.params.speed_kmh"]
    assert resolved == [[0, 30], [0, 120.0], 5] and type(resolved[0]) is list
    assert yaml.safe_load(yaml.safe_dump(loaded.resolved()))["sweep"]["channel.params.speed_kmh"] == [[0, 30], [0, 120.0], 5]


@pytest.mark.parametrize(
    ("sweep", "message"),
    [
        ({"channel.params.speed_kmh": [[30, 0]]},
         "x.yaml: sweep.channel.params.speed_kmh: must be a speed >= 0 or a range [min, max] with 0 <= min <= max, got [30, 0]"),
        ({"channel.params.speed_kmh": [[0, 30, 60]]}, "x.yaml: sweep.channel.params.speed_kmh"),
        ({"channel.params.speed_kmh": [[0, [1]]]},
         "x.yaml: sweep.channel.params.speed_kmh[0][1]: the items of a list value must be numbers, strings, booleans or null, got [1]"),
        ({"channel.params.speed_kmh": [[0, 30], [0.0, 30.0]]}, "x.yaml: sweep.channel.params.speed_kmh: value [0, 30] appears more than once"),
        ({"channel.params.num_guard_carriers": [1, 2]},
         "(a list-valued parameter is swept as a list of lists, e.g. [[0, 30], [0, 120]])"),
    ],
)
def test_list_values_are_validated_against_the_channel_params(sweep, message):
    with pytest.raises(ConfigError) as caught:
        load(sweep)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_snr_db_stays_a_number_axis():
    with pytest.raises(ConfigError, match=r"sweep.snr_db\[0\]: must be a finite number \(dB\), got \[0, 1\]"):
        parse_sweep({"snr_db": [[0, 1]]}, source="x.yaml")


def test_a_list_value_of_a_scalar_parameter_is_refused():
    with pytest.raises(ConfigError, match=r"sweep.channel.params.delay_spread_ns: .*\[10, 30\]"):
        load({"channel.params.delay_spread_ns": [[10, 30]]})


@pytest.mark.usefixtures("tiny_zoo_env")
def test_simulate_sweeps_a_tdl_speed_range(tmp_path):
    scenario = tmp_path / "tdl.yaml"
    data = tiny_scenario(name="tdl", num_images=1, snr_db=[10], channel=TDL, sweep={"channel.params.speed_kmh": [[0, 30], [0, 120]]})
    scenario.write_text(yaml.safe_dump(data, sort_keys=False))
    out = tmp_path / "out"
    assert main([str(scenario), "--out", str(out)]) == 0
    with open(out / "results.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["channel.params.speed_kmh"] for r in rows] == ["[0, 30]", "[0, 120]"]
    assert [r["channel.params.speed_kmh"] for r in json.loads((out / "results.json").read_text())["rows"]] == [[0, 30], [0, 120]]
    assert main([str(scenario), "--out", str(out), "--resume"]) == 0  # the resolved scenario matches on resume
