"""docs/scenario-reference.md is generated from the scenario model and must match it."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulation import schema_reference
from simulation.scenario import Scenario

REFERENCE = Path(__file__).resolve().parents[2] / schema_reference.DEFAULT_OUTPUT


@pytest.fixture(scope="module")
def rendered() -> str:
    return schema_reference.render_reference()


def test_committed_reference_is_up_to_date(rendered):
    assert REFERENCE.is_file(), f"{REFERENCE} is missing: run python -m simulation.schema_reference"
    assert REFERENCE.read_text(encoding="utf-8") == rendered, (
        "docs/scenario-reference.md is stale: run python -m simulation.schema_reference"
    )


def test_every_top_level_field_is_documented(rendered):
    for name in Scenario.model_fields:
        assert f"| `{name}` |" in rendered, name


def test_nested_sections_and_constraints_are_rendered(rendered):
    assert "## `link.ldpc`" in rendered and "## `codecs[].rate`" in rendered
    assert "| `link.ldpc.iterations` | integer | `20` | >= 1, <= 1000 |" in rendered
    assert "| `codecs` | list of section [`codecs[]`](#codecs) | *required* | at least 1 entry |" in rendered


def test_check_mode_reports_a_stale_file(tmp_path, capsys, rendered):
    stale = tmp_path / "reference.md"
    stale.write_text("old\n", encoding="utf-8")
    assert schema_reference.main(["--check", "--output", str(stale)]) == 1
    message = capsys.readouterr().err.strip()
    assert "stale" in message and "python -m simulation.schema_reference" in message
    assert len(message.splitlines()) == 1
    assert schema_reference.main(["--output", str(stale)]) == 0
    assert stale.read_text(encoding="utf-8") == rendered
    assert schema_reference.main(["--check", "--output", str(stale)]) == 0
