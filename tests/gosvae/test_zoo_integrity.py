"""Zoo entries are checked when read and loaded: the weights' SHA-256, the tensors against the
model the entry describes, bounded entry fields; every failure is one line (exit code 2)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from gosvae.cli import main
from gosvae.codecs import build_codec
from gosvae.errors import UserError
from gosvae.teachers import load_teacher
from gosvae.zoo import (
    ZOO_DIR,
    add_weights_hash,
    get_entry,
    list_entries,
    load_entry_weights,
    load_zoo_weights,
    resolve_entry,
    save_zoo_entry,
)
from gosvae.zoo.integrity import HASH_FIELD, MAX_ENTRY_JSON_BYTES, sha256_file


def _meta(zoo: Path, name: str) -> dict:
    return json.loads((zoo / f"{name}.json").read_text())


def _write_meta(zoo: Path, name: str, meta: dict) -> None:
    (zoo / f"{name}.json").write_text(json.dumps(meta))


def _copy_entry(zoo: Path, source: str, name: str, *, keep_hash: bool = True) -> dict:
    """A copy of entry ``source`` named ``name`` in ``zoo`` (without its hash unless ``keep_hash``)."""
    meta = _meta(zoo, source) | {"name": name}
    if not keep_hash:
        meta.pop(HASH_FIELD)
    (zoo / f"{name}.safetensors").write_bytes((zoo / f"{source}.safetensors").read_bytes())
    _write_meta(zoo, name, meta)
    return meta


def _one_line(exc: pytest.ExceptionInfo) -> str:
    message = str(exc.value)
    assert "\n" not in message and isinstance(exc.value, UserError)
    return message


def test_save_writes_the_sha256_of_the_weights_file(tiny_zoo):
    for name in ("tiny-codec", "tiny-teacher"):
        meta = _meta(tiny_zoo, name)
        assert meta[HASH_FIELD] == hashlib.sha256((tiny_zoo / f"{name}.safetensors").read_bytes()).hexdigest()
        assert list(meta)[-1] == HASH_FIELD and get_entry(name).weights_sha256 == meta[HASH_FIELD]
        assert HASH_FIELD not in get_entry(name).extra
    assert not list(tiny_zoo.glob(".*"))  # no temporary file left behind


def test_a_stale_hash_given_to_save_is_replaced(tmp_path):
    state = {"w": torch.arange(4.0)}
    meta = {"name": "m", "kind": "teacher", "arch": "x", "arch_config": {}, "config": "-", "command": "-", "data": {},
            "steps": 0, HASH_FIELD: "0" * 64}
    path = save_zoo_entry(state_dict=state, metadata=meta, directory=tmp_path)
    assert json.loads(path.read_text())[HASH_FIELD] == sha256_file(tmp_path / "m.safetensors") != "0" * 64
    assert meta[HASH_FIELD] == "0" * 64  # the caller's dict is left alone
    with pytest.raises(UserError, match="expected a plain name"):
        save_zoo_entry(state_dict=state, metadata=meta | {"name": "../m"}, directory=tmp_path)


def test_every_shipped_entry_records_the_hash_of_its_weights():
    entries = [e for e in list_entries() if e.directory == ZOO_DIR]
    assert len(entries) >= 20
    for entry in entries:
        assert entry.weights_sha256 == sha256_file(entry.weights_path), entry.name
    # the shipped weights fit the models their entries describe (two small ones loaded in full)
    for name in ("vq-vae-r4", "urban-unet"):
        entry = get_entry(name)
        assert set(load_entry_weights(entry)) == set(load_file(str(entry.weights_path)))


def test_a_bit_flipped_tensor_is_refused_not_decoded(tmp_path, tiny_zoo, capsys):
    _copy_entry(tiny_zoo, "tiny-codec", "flipped")
    data = bytearray((tiny_zoo / "flipped.safetensors").read_bytes())
    data[-3] ^= 0x04  # inside the last tensor's bytes: still a valid safetensors file
    (tiny_zoo / "flipped.safetensors").write_bytes(bytes(data))
    assert set(load_file(str(tiny_zoo / "flipped.safetensors")))  # it loads; only the hash tells
    with pytest.raises(UserError) as info:
        load_zoo_weights("flipped")
    assert "zoo entry 'flipped': weights file" in _one_line(info) and "is damaged or was replaced" in str(info.value)
    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(tmp_path / "in.png")
    assert main(["encode", str(tmp_path / "in.png"), "-o", str(tmp_path / "x.gosv"), "--model", "flipped"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is damaged or was replaced" in err


def test_a_damaged_teacher_is_refused(tiny_zoo):
    _copy_entry(tiny_zoo, "tiny-teacher", "bad-teacher")
    data = bytearray((tiny_zoo / "bad-teacher.safetensors").read_bytes())
    data[-1] ^= 0x01
    (tiny_zoo / "bad-teacher.safetensors").write_bytes(bytes(data))
    with pytest.raises(UserError) as info:
        load_teacher("bad-teacher")
    assert "zoo entry 'bad-teacher'" in _one_line(info)


def test_entries_without_a_hash_still_load(tiny_zoo):
    _copy_entry(tiny_zoo, "tiny-codec", "old-codec", keep_hash=False)
    entry, state = load_zoo_weights("old-codec")
    assert entry.weights_sha256 is None and set(state) == set(load_zoo_weights("tiny-codec")[1])
    codec = build_codec("vqvae", model="old-codec")
    assert codec.encode(torch.rand(1, 3, 8, 8))[0].num_bytes > 0
    # the hash can be added afterwards; the rest of the JSON is kept
    before = _meta(tiny_zoo, "old-codec")
    assert add_weights_hash(tiny_zoo / "old-codec.json") == _meta(tiny_zoo, "tiny-codec")[HASH_FIELD]
    assert _meta(tiny_zoo, "old-codec") == before | {HASH_FIELD: _meta(tiny_zoo, "tiny-codec")[HASH_FIELD]}
    assert get_entry("old-codec").weights_sha256 is not None


def _rewrite_weights(zoo: Path, name: str, change) -> None:
    state = load_file(str(zoo / f"{name}.safetensors"))
    change(state)
    save_file(state, str(zoo / f"{name}.safetensors"))


@pytest.mark.parametrize(("change", "message"), [
    (lambda s: s.pop(sorted(s)[0]), "the weights lack 1 tensor(s)"),
    (lambda s: s.update(extra=torch.zeros(2)), "the weights hold 1 tensor(s) the model does not have (e.g. 'extra')"),
    (lambda s: s.update({k: s[k][:1].contiguous() for k in [next(k for k in sorted(s) if s[k].ndim == 4)]}),
     "has shape [1, "),
])
def test_tensors_must_fit_the_model_the_entry_describes(tiny_zoo, change, message):
    _copy_entry(tiny_zoo, "tiny-codec", "broken", keep_hash=False)  # no hash: the structure check alone
    _rewrite_weights(tiny_zoo, "broken", change)
    with pytest.raises(UserError) as info:
        load_zoo_weights("broken")
    assert _one_line(info).startswith("zoo entry 'broken': ") and message in str(info.value)
    with pytest.raises(UserError, match="zoo entry 'broken'"):
        build_codec("vqvae", model="broken").encode(torch.rand(1, 3, 8, 8))


def test_a_truncated_weights_file_without_hash_is_one_line(tiny_zoo):
    _copy_entry(tiny_zoo, "tiny-codec", "cut", keep_hash=False)
    data = (tiny_zoo / "cut.safetensors").read_bytes()
    (tiny_zoo / "cut.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError) as info:
        load_zoo_weights("cut")
    assert "is not a readable safetensors file" in _one_line(info)
    (tiny_zoo / "cut.safetensors").unlink()
    with pytest.raises(UserError, match="weights file .*cut.safetensors is missing"):
        load_zoo_weights("cut")


@pytest.mark.parametrize(("edit", "message"), [
    (lambda m: "{not json", "not valid JSON (line 1, column 2"),
    (lambda m: "[1, 2]", "expected a JSON object of entry fields, got list"),
    (lambda m: b"\xff\xfe{}", "not UTF-8 text"),
    (lambda m: {k: v for k, v in m.items() if k != "kind"}, "required field 'kind' is missing"),
    (lambda m: m | {"steps": "many"}, "steps: expected int, got str"),
    (lambda m: m | {"arch_config": [1]}, "arch_config: expected dict, got list"),
    (lambda m: m | {"kind": "model"}, "kind: expected 'teacher' or 'codec', got 'model'"),
    (lambda m: m | {"name": "other"}, "name: 'other' differs from the file name 'entry.json'"),
    (lambda m: m | {"name": "../entry"}, "is not a plain name"),
    (lambda m: m | {"arch_config": m["arch_config"] | {"codebook_size": 10**12}}, "arch_config.codebook_size: 1000000000000 is out of bounds"),
    (lambda m: m | {"arch_config": m["arch_config"] | {"codebook_size": 70000}}, "arch_config.codebook_size: expected an integer in [2, 65536]"),
    (lambda m: m | {"arch_config": m["arch_config"] | {"encoder_channels": [8, 2**30]}}, "arch_config.encoder_channels[1]: 1073741824 is out of bounds"),
    (lambda m: m | {"arch_config": m["arch_config"] | {"beta": float("nan")}}, "arch_config.beta: must be a finite number"),
    (lambda m: m | {HASH_FIELD: "abc"}, f"{HASH_FIELD}: expected 64 lowercase hex digits"),
    (lambda m: m | {"command": "x" * MAX_ENTRY_JSON_BYTES}, f"larger than {MAX_ENTRY_JSON_BYTES} bytes"),
])
def test_malformed_entry_json_is_one_line(tiny_zoo, edit, message):
    meta = _copy_entry(tiny_zoo, "tiny-codec", "entry")
    text = edit(dict(meta))
    path = tiny_zoo / "entry.json"
    path.write_bytes(text if isinstance(text, bytes) else (text if isinstance(text, str) else json.dumps(text)).encode())
    for load in (lambda: get_entry("entry"), lambda: resolve_entry(str(path)), list_entries):
        with pytest.raises(UserError) as info:
            load()
        assert _one_line(info).startswith(f"zoo entry {path}: ") and message in str(info.value)


def test_an_arch_config_that_builds_no_model_is_one_line(tiny_zoo):
    meta = _copy_entry(tiny_zoo, "tiny-codec", "odd", keep_hash=False)
    _write_meta(tiny_zoo, "odd", meta | {"arch_config": meta["arch_config"] | {"ratio": 3}})
    with pytest.raises(UserError) as info:
        load_zoo_weights("odd")
    assert "zoo entry 'odd': arch_config does not describe a vqvae model" in _one_line(info)
    meta = _copy_entry(tiny_zoo, "tiny-teacher", "odd-teacher")
    _write_meta(tiny_zoo, "odd-teacher", meta | {"arch": "no-such-net"})
    with pytest.raises(UserError, match="arch: unknown teacher architecture 'no-such-net'"):
        load_zoo_weights("odd-teacher")


def test_the_command_line_reports_a_broken_zoo_in_one_line(tiny_zoo, capsys):
    (tiny_zoo / "junk.json").write_text("{")
    assert main(["zoo"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "junk.json: not valid JSON" in err


@pytest.mark.parametrize("name", ["a" * 300, "../tiny-codec", "tiny codec", ""])
def test_names_that_are_not_plain_are_not_looked_up(tiny_zoo, name):
    with pytest.raises(UserError) as info:
        get_entry(name)
    assert "in the zoo (available: " in _one_line(info) and len(str(info.value)) < 2000
