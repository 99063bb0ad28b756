"""Dataset roots given through environment variables."""

from __future__ import annotations

import pytest

from gosvae.datasets.roots import expand_root
from gosvae.errors import UserError


def test_variables_expand_with_and_without_defaults(monkeypatch):
    monkeypatch.setenv("GOSVAE_TEST_ROOT", "/data")
    monkeypatch.delenv("GOSVAE_TEST_UNSET", raising=False)
    assert expand_root("${GOSVAE_TEST_ROOT}/camvid") == "/data/camvid"
    assert expand_root("${GOSVAE_TEST_ROOT:-/elsewhere}") == "/data"
    assert expand_root("${GOSVAE_TEST_UNSET:-../shared/camvid}") == "../shared/camvid"
    assert expand_root("plain/path") == "plain/path"


def test_an_unset_variable_without_default_names_field_and_variable(monkeypatch):
    monkeypatch.delenv("GOSVAE_TEST_UNSET", raising=False)
    with pytest.raises(UserError, match=r"dataset.root: environment variable GOSVAE_TEST_UNSET is not set"):
        expand_root("${GOSVAE_TEST_UNSET}", field="dataset.root")
