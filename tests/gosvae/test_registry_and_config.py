"""Registries, YAML config validation and one-line CLI errors."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ConfigDict, Field

from gosvae.cli import main as gosvae_main
from gosvae.errors import ConfigError, UserError
from gosvae.registry import Registry
from gosvae.yaml_config import load_yaml_model


class _Inner(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rate: float = Field(gt=0, le=1)


class _Outer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    fec: _Inner


def test_registry_register_get_and_unknown_name_lists_known():
    reg = Registry("widget")

    @reg.register("alpha", description="first")
    class Alpha:
        pass

    assert reg.get("alpha") is Alpha
    assert "alpha" in reg and reg.names() == ["alpha"]
    assert reg.entries()[0].description == "first"
    with pytest.raises(UserError, match=r"unknown widget 'beta' \(known: alpha\)"):
        reg.get("beta")
    with pytest.raises(ValueError, match="already registered"):
        reg.add("alpha", object())


def test_yaml_errors_name_file_field_and_value(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("name: a\nfec: {rate: 1.5}\n")
    with pytest.raises(ConfigError) as err:
        load_yaml_model(path, _Outer)
    msg = str(err.value)
    assert msg.startswith(f"{path}: fec.rate: ") and "got 1.5" in msg and "\n" not in msg

    path.write_text("name: a\nfec: {rate: 0.5, rat: 2}\n")
    with pytest.raises(ConfigError, match=r"fec\.rat: unknown field"):
        load_yaml_model(path, _Outer)

    path.write_text("name: a\n")
    with pytest.raises(ConfigError, match=r": fec: field required"):
        load_yaml_model(path, _Outer)

    path.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match=r"invalid YAML \(line \d+, column \d+\)"):
        load_yaml_model(path, _Outer)

    with pytest.raises(ConfigError, match="file not found"):
        load_yaml_model(tmp_path / "missing.yaml", _Outer)


def test_gosvae_train_bad_config_is_one_line_exit_2(tmp_path, capsys):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("task: teacher\nname: t\narch: urban-unet\ndata: {train: {}, val: {}}\noptim: {steps: 0}\nrun: {out_dir: x}\n")
    assert gosvae_main(["train", str(cfg)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: {cfg}: optim.steps: input should be greater than 0, got 0"

    cfg.write_text("task: painting\n")
    assert gosvae_main(["train", str(cfg)]) == 2
    assert "task: must be 'teacher' or 'codec', got 'painting'" in capsys.readouterr().err
