"""The channel-code registry: built-ins, a user's code through the link, one-line errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from channels import AWGNChannel
from gosvae.errors import ConfigError
from gosvae_core.errors import UserError
from simulation.link import CODES, ChannelCode, DecodeResult, Link, LinkConfig, register_code
from simulation.link.codes import build_code, code_class
from simulation.link.fec import LDPC5GCode, Polar5GCode, Uncoded


@pytest.fixture
def repetition_code():
    """A rate-1/3 repetition code registered as "repetition" for one test."""

    @register_code("repetition")
    class RepetitionCode(ChannelCode):
        """Each bit sent three times; decision by the sum of its three LLRs."""

        rate_limits = (1 / 3, 1 / 3)
        default_rate = 1 / 3

        def codeword_bits(self, k):
            return self._whole_symbols(3 * k)

        def encode(self, bits):
            pad = self.codeword_bits(bits.shape[1]) - 3 * bits.shape[1]
            return torch.nn.functional.pad(bits.repeat(1, 3), (0, pad))

        def decode(self, llr, *, k):
            return DecodeResult((llr[:, : 3 * k].reshape(-1, 3, k).sum(1) > 0).float())

    yield RepetitionCode
    CODES._entries.pop("repetition")  # leave the registry as the other tests know it


def test_built_in_codes_are_registered_with_their_limits():
    assert {"ldpc", "polar", "none"} <= set(CODES.names())
    assert code_class("ldpc") is LDPC5GCode and code_class("polar") is Polar5GCode and code_class("none") is Uncoded
    assert [code_class(name).name for name in ("ldpc", "polar", "none")] == ["ldpc", "polar", "none"]
    assert LinkConfig(code="none").code_rate == 1.0 and LinkConfig(code="polar").code_rate == 0.5
    assert LinkConfig(code="ldpc").max_block_size == 8448 and LinkConfig(code="ldpc", rate=0.25).max_block_size == 3824
    assert LinkConfig(code="none").max_block_size is None and LinkConfig(code="polar").max_block_size == 539
    code = build_code(LinkConfig(code="polar", modulation="16qam", polar={"decoder": "SC"}), device="cpu")
    assert isinstance(code, Polar5GCode) and code.settings.decoder == "SC" and code.bits_per_symbol == 4


def test_unknown_code_is_a_one_line_error_listing_the_known_ones():
    with pytest.raises(ConfigError) as info:
        LinkConfig.from_mapping({"code": "turbo"})
    message = str(info.value)
    assert message == "link.code: must be a registered channel code (ldpc, none, polar), got 'turbo'"
    with pytest.raises(UserError, match=r"unknown channel code 'turbo' \(known: .*ldpc.*\)"):
        code_class("turbo")


def test_registering_something_else_than_a_channel_code_fails_at_import():
    with pytest.raises(TypeError, match="must be a subclass of simulation.link.codes.ChannelCode"):
        register_code("not-a-code")(object)
    assert "not-a-code" not in CODES


def test_a_users_code_goes_through_the_link_without_editing_it(repetition_code):
    config = LinkConfig.from_mapping({"code": "repetition", "modulation": "16qam", "interleaver": "random"})
    assert config.code_rate == pytest.approx(1 / 3)
    with pytest.raises(ConfigError, match=r"link.rate: must be within \[0.333.*for code 'repetition', got 0.5"):
        LinkConfig.from_mapping({"code": "repetition", "rate": 0.5})
    link = Link(config, AWGNChannel(), device="cpu")
    assert isinstance(link.code, repetition_code)
    rng = np.random.default_rng(3)
    packets = [rng.bytes(n) for n in (0, 1, 40, 300)]
    received, stats = link.transmit(packets, snr_db=30.0, generator=torch.Generator().manual_seed(0))
    assert received == packets and stats.packets_lost == 0 and stats.raw_bit_errors == 0
    assert stats.coded_bits >= 3 * stats.info_bits and stats.coded_bits % 4 == 0  # whole 16-QAM symbols
    assert stats.codewords == 4 and stats.channel_uses * 4 >= stats.coded_bits
