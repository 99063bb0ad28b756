"""Scenario codec entries (codec + params, shorthand, rate targets), `simulate --list-codecs`, a
broken codec plug-in, and a model exported to a folder used by path."""

from __future__ import annotations

from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
import torch
import yaml

from gosvae.codecs import build_codec, parse_codec_spec
from gosvae.codecs.vqvae import VQVAECodec
from gosvae.errors import ConfigError
from gosvae.registry import Registry
from simulation.cli import codec_listing, main
from simulation.runner import byte_budgets, codec_identity
from simulation.scenario import load_scenario, validate_scenario
from simulation.testing import TINY_CODECS, tiny_scenario


pytestmark = pytest.mark.usefixtures("tiny_zoo_env")


def _load(codecs: list[dict]):
    return validate_scenario(tiny_scenario(codecs=codecs), source="s.yaml")


def test_new_form_and_shorthand_are_the_same_codec():
    new = _load([{"codec": "vqvae", "params": {"model": TINY_CODECS[0], "coder": "huffman", "rows_per_slice": 2}}])
    old = _load([{"name": TINY_CODECS[0], "source_coder": "huffman", "rows_per_slice": 2}])
    assert new.resolved()["codecs"] == old.resolved()["codecs"] == [{
        "codec": "vqvae", "label": "tiny-codec-r4/huffman", "rate": None,
        "params": {"model": TINY_CODECS[0], "coder": "huffman", "rows_per_slice": 2, "concealment": "most-probable",
                   "batch_size": 16}}]


@pytest.mark.parametrize("codecs, message", [
    ([{"codec": "nope", "params": {}}], r"^s.yaml: codecs\[0\].codec: unknown codec 'nope' \(known: .*vqvae"),
    ([{"codec": "vqvae", "params": {"model": TINY_CODECS[0], "coder": "arith"}}],
     r"^s.yaml: codecs\[0\].params.coder: must be 'range', 'huffman' or 'fixed', got 'arith'$"),
    ([{"codec": "vqvae", "params": {"model": TINY_CODECS[0], "qualty": 3}}], r"^s.yaml: codecs\[0\].params.qualty: unknown field"),
    ([{"codec": "vqvae", "params": {}}], r"^s.yaml: codecs\[0\].params.model: "),
    ([{"codec": "vqvae", "params": {"model": "nope-r4"}}], r"^s.yaml: codecs\[0\].params.model: no model 'nope-r4' in the zoo"),
    ([{"name": TINY_CODECS[0], "codec": "vqvae"}], r"^s.yaml: codecs\[0\]: .*mixes the shorthand fields \['name'\]"),
    ([{"name": TINY_CODECS[0], "rate": {"bytes": 10, "bpp": 1}}], r"^s.yaml: codecs\[0\].rate: .*give exactly one of bytes, bpp, match"),
    ([{"name": TINY_CODECS[0], "rate": {"bytes": 0}}], r"^s.yaml: codecs\[0\].rate.bytes: "),
    ([{"name": TINY_CODECS[0], "rate": {"match": "other"}}],
     r"^s.yaml: codecs\[0\].rate.match: no codec entry labelled 'other' \(labels: none\)$"),
    ([{"name": TINY_CODECS[0], "label": "a", "rate": {"match": "b"}}, {"name": TINY_CODECS[1], "label": "b", "rate": {"match": "a"}}],
     r"^s.yaml: codecs\[0\].rate.match: entry 'b' itself uses rate.match"),
    ([{"name": TINY_CODECS[0], "label": "a", "rate": {"match": "a"}}], r"^s.yaml: codecs\[0\].rate.match: an entry cannot match its own"),
])
def test_codec_entry_errors_are_one_line_and_name_the_field(codecs, message):
    with pytest.raises(ConfigError, match=message) as info:
        _load(codecs)
    assert "\n" not in str(info.value)


def test_size_must_fit_the_codec_size_multiple():
    data = tiny_scenario(codecs=[{"codec": "vqvae", "params": {"model": TINY_CODECS[1]}}], size=(16, 36))
    with pytest.raises(ConfigError, match=r"^s.yaml: dataset.size: codec 'tiny-codec-r8/range' needs height and width divisible by 8, got \[16, 36\]$"):
        _check_codec_size(data)


def _check_codec_size(data):
    from simulation.scenario import Scenario, _check_models

    scenario = Scenario.model_validate({**data, "teacher": str(Path(__file__).parent)})  # a folder: teacher not checked
    _check_models(scenario, source="s.yaml")


def test_rate_targets_become_per_image_byte_budgets():
    loaded = _load([{"name": TINY_CODECS[0], "label": "a"}, {"name": TINY_CODECS[1], "label": "b", "rate": {"match": "a"}},
                    {"name": TINY_CODECS[1], "label": "c", "rate": {"bpp": 0.5}}, {"name": TINY_CODECS[1], "label": "d", "rate": {"bytes": 7}}])
    from gosvae.codecs import Bitstream

    matched = {"a": [Bitstream([b"xx", b"y"]), Bitstream([b"z"])]}
    assert byte_budgets(loaded.codec("b"), num_images=2, image_size=(32, 64), matched=matched) == [3, 1]
    assert byte_budgets(loaded.codec("c"), num_images=2, image_size=(32, 64), matched=matched) == [128, 128]
    assert byte_budgets(loaded.codec("d"), num_images=2, image_size=(32, 64), matched=matched) == [7, 7]
    assert byte_budgets(loaded.codec("a"), num_images=2, image_size=(32, 64), matched=matched) is None


def test_identity_columns_come_from_describe():
    codec = build_codec("vqvae", model=TINY_CODECS[1], coder="fixed")
    identity = codec_identity(codec.describe())
    assert identity["codec_type"] == "vqvae" and identity["codec_name"] == TINY_CODECS[1] and identity["ratio"] == 8
    assert identity["source_coder"] == "fixed" and '"coder":"fixed"' in identity["codec_params"]
    assert codec_identity({"codec": "jpeg", "scheme": "JPEG", "quality": 30})["rows_per_slice"] == ""


def test_parse_codec_spec():
    assert parse_codec_spec("jpeg:quality=30,subsampling=4:2:0,lossless=false") == (
        "jpeg", {"quality": 30, "subsampling": "4:2:0", "lossless": False})
    assert parse_codec_spec("vqvae") == ("vqvae", {})


def test_list_codecs_shows_parameters(capsys):
    assert main(["--list-codecs"]) == 0
    out = capsys.readouterr().out
    assert "vqvae (built-in): VQ-VAE / GOS-VAE" in out
    assert "    coder: 'range' | 'huffman' | 'fixed' = 'range'" in out and "    model: str (required)" in out


def test_a_plugin_that_fails_to_import_is_listed_as_failed(monkeypatch):
    import gosvae_core.registry as registry_module  # where Registry looks up entry points

    broken = EntryPoint(name="broken-codec", value="no_such_module_xyz:Codec", group="gosvae.codecs")
    monkeypatch.setattr(registry_module, "entry_points", lambda group: [broken])
    registry = Registry("codec", entry_point_group="gosvae.codecs")
    registry.add("vqvae", VQVAECodec)
    listing = codec_listing(registry)
    assert "broken-codec (plugin no_such_module_xyz:Codec): FAILED: No module named 'no_such_module_xyz'" in listing
    assert "vqvae (built-in)" in listing and "    coder: " in listing
    with pytest.raises(Exception, match="broken-codec.*failed to load"):
        registry.get("broken-codec")
    assert registry.get("vqvae") is VQVAECodec


def test_exported_folder_is_loaded_by_path(tmp_path, zoo_dir):
    from gosvae.zoo import get_entry, load_zoo_weights, save_zoo_entry

    entry, state = load_zoo_weights(TINY_CODECS[0])
    meta = {"name": "my-codec", "kind": "codec", "arch": "vqvae", "arch_config": entry.arch_config, "scheme": "GOS-VAE*",
            "config": "-", "command": "-", "data": {}, "steps": 0}
    folder = tmp_path / "export"
    save_zoo_entry(state_dict=state, metadata=meta, directory=folder)
    by_path = build_codec("vqvae", model=str(folder))
    by_json = build_codec("vqvae", model=str(folder / "my-codec.json"))
    zoo = build_codec("vqvae", model=TINY_CODECS[0])
    assert by_path.describe()["scheme"] == "GOS-VAE*" and by_path.size_multiple() == 4
    images = torch.rand(1, 3, 32, 64, generator=torch.Generator().manual_seed(0))
    a, b = by_path.encode(images)[0], zoo.encode(images)[0]
    assert a.num_bytes == b.num_bytes and torch.equal(by_json.decode([a.packets], image_size=(32, 64)).images,
                                                      by_path.decode([a.packets], image_size=(32, 64)).images)
    data = tiny_scenario(codecs=[{"codec": "vqvae", "params": {"model": str(folder)}}])
    assert load_scenario_from(tmp_path, data).codec("export/range").params["model"] == str(folder)
    with pytest.raises(ConfigError, match=r"codecs\[0\].params.model: model folder .*expected exactly one codec entry"):
        load_scenario_from(tmp_path, tiny_scenario(codecs=[{"codec": "vqvae", "params": {"model": str(tmp_path)}}]))
    assert get_entry(TINY_CODECS[0]).name == TINY_CODECS[0]


def load_scenario_from(tmp_path, data):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_scenario(path)
