"""The link's OFDM side: framing on the channel's resource grid, perfect-CSI and LS receivers, pilot
overhead in the statistics and in Eb/N0, receiver settings and their deprecated channel spelling.

The LS tests were in tests/channels/test_ofdm.py when the receiver lived in the channel models;
they assert the same maths on :class:`LSReceiver`."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from scipy import integrate, stats
from sionna.phy import config as sionna_config
from sionna.phy.utils import ebnodb2no

from channels import AWGNChannel, JakesChannel, RayleighChannel, RicianChannel, TDLChannel, build_channel
from gosvae.errors import ConfigError
from simulation.link import Link, LinkConfig, LSReceiver, OFDMFramer, PerfectCSI, ReceiverSettings
from simulation.scenario import validate_scenario
from simulation.testing import tiny_scenario

SMALL = {"fft_size": 24, "num_ofdm_symbols": 14}  # 24 x 14 grid: 288 data REs with pilots on 2, 11
ODD = {"fft_size": 32, "num_guard_carriers": (3, 2), "dc_null": True, "pilot_ofdm_symbol_indices": [0, 7]}


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def qpsk(shape: tuple[int, ...], seed: int, dtype: torch.dtype = torch.complex64) -> torch.Tensor:
    bits = torch.randint(0, 2, (2, *shape), generator=gen(seed))
    return (torch.complex(1.0 - 2.0 * bits[0], 1.0 - 2.0 * bits[1]) / np.sqrt(2)).to(dtype)


def rayleigh_qpsk_ber(esno_db: float) -> float:
    """Closed form of Gray QPSK on Rayleigh fading with perfect CSI: 0.5(1 - sqrt(g/(1+g))), g = Eb/N0."""
    g = 10 ** (esno_db / 10) / 2
    return 0.5 * (1 - np.sqrt(g / (1 + g)))


def framer_of(channel, dtype: torch.dtype = torch.complex64) -> OFDMFramer:
    return OFDMFramer(channel.resource_grid(device="cpu", dtype=dtype))


def ls_receiver(channel, dtype: torch.dtype = torch.complex64, **options) -> LSReceiver:
    return LSReceiver(framer_of(channel, dtype), **options)


def through(channel, receiver, x: torch.Tensor, *, no, seed: int):
    """Frame ``x``, propagate, receive: the receiver's per-data-symbol ChannelOutput."""
    out = channel(receiver.framer.frame(x), no=no, generator=gen(seed))
    return receiver(out, length=x.shape[1])


# --- settings ------------------------------------------------------------------------------------


def test_receiver_settings_resolve_per_mode():
    ls = ReceiverSettings(channel_estimation="ls")
    assert (ls.interpolation, ls.equalizer) == ("linear", "lmmse")
    perfect = ReceiverSettings()
    assert (perfect.channel_estimation, perfect.interpolation, perfect.equalizer) == ("perfect", None, None)
    for settings in (ls, perfect, ReceiverSettings(channel_estimation="ls", interpolation="nearest", equalizer="zf")):
        assert ReceiverSettings(**settings.model_dump()) == settings  # a resolved scenario reloads as is
    assert LinkConfig().receiver == perfect


@pytest.mark.parametrize(
    ("receiver", "field"),
    [({"equalizer": "zf"}, "equalizer"), ({"interpolation": "linear"}, "interpolation"),
     ({"channel_estimation": "mmse"}, "channel_estimation"), ({"estimation": "ls"}, "estimation")],
)
def test_bad_receiver_settings_name_the_field(receiver, field):
    with pytest.raises(ConfigError, match=rf"^link\.receiver\.{field}: "):
        LinkConfig.from_mapping({"receiver": receiver})


def test_ls_needs_a_resource_grid_with_pilots():
    config = LinkConfig(code="none", crc="none", receiver={"channel_estimation": "ls"})
    with pytest.raises(ValueError, match="needs pilots"):
        Link(config, TDLChannel(pilot_pattern="none", **SMALL), device="cpu")
    with pytest.raises(ValueError, match="needs a channel with an OFDM resource grid"):
        Link(config, AWGNChannel(), device="cpu")
    base = tiny_scenario(link={"receiver": {"channel_estimation": "ls"}}, channel={"model": "rayleigh"})
    with pytest.raises(ConfigError, match=r"^x\.yaml: link\.receiver\.channel_estimation: 'ls' needs a channel with an OFDM"):
        validate_scenario(base, source="x.yaml", check_models=False)
    tdl = {"model": "tdl", "params": {"pilot_pattern": "none"}}
    with pytest.raises(ConfigError, match=r"link\.receiver\.channel_estimation: 'ls' needs pilots"):
        validate_scenario({**base, "channel": tdl}, source="x.yaml", check_models=False)
    swept = tiny_scenario(channel={"model": "tdl"}, link={"receiver": {"channel_estimation": "ls"}},
                          sweep={"channel.params.pilot_pattern": ["kronecker", "none"]})
    with pytest.raises(ConfigError, match=r"sweep\.channel\.params\.pilot_pattern: value 'none' makes link\.receiver"):
        validate_scenario(swept, source="x.yaml", check_models=False)


# --- framing -------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.complex64, torch.complex128])
def test_framer_round_trip_pilots_guards_and_padding(dtype):
    framer = framer_of(TDLChannel(**ODD), dtype)
    grid = framer.grid
    types = grid.build_type_grid()[0, 0]  # (14, 32): 0 data, 1 pilot, 2 guard, 3 DC
    assert framer.num_pilot_symbols == int((types == 1).sum()) == int(grid.num_pilot_symbols) == 2 * 26
    assert framer.num_data_symbols == int((types == 0).sum()) == int(grid.num_data_symbols) == 12 * 26
    x = qpsk((2, 1000), seed=1, dtype=dtype)  # 312 data REs per slot: 4 slots, the last one 64 symbols
    res = framer.frame(x)
    assert res.shape == (2, 4 * 14 * 32) and res.dtype == dtype
    assert torch.equal(framer.data_of(res, length=1000), x)  # identity, padding dropped
    assert framer.pilot_uses(x.shape) == 2 * 4 * 52 and framer.slots_per_row(1000) == 4
    grids = framer.grids(res).reshape(2, 4, 14, 32)
    pilots = grid.pilot_pattern.pilots.reshape(-1)
    for row in range(2):
        for slot in range(4):
            assert torch.equal(grids[row, slot][types == 1], pilots)  # the fixed pilots on every slot
            assert not grids[row, slot][types >= 2].abs().any()  # guard and DC carriers are empty
    data = grids[:, -1].reshape(2, -1)[:, framer.data_index]
    assert torch.equal(data[:, 1000 - 3 * 312 :], torch.zeros(2, 4 * 312 - 1000, dtype=dtype))  # padding is zeros
    # the data order is Sionna's ResourceGridMapper's: symbol by symbol, subcarriers upwards
    first = grids[0, 0].reshape(-1)[framer.data_index]
    assert torch.equal(first, x[0, :312])
    assert int(framer.data_index[0]) == 1 * 32 + 3  # symbol 0 is pilots; symbol 1's data start after 3 guards


def test_framer_handles_no_pilots_and_empty_rows():
    framer = framer_of(TDLChannel(pilot_pattern="none", **SMALL))
    assert framer.num_pilot_symbols == 0 and framer.num_data_symbols == 14 * 24
    x = qpsk((1, 14 * 24 * 2), seed=2)
    assert torch.equal(framer.frame(x), x)  # every RE is data: the framing is the identity
    assert framer.pilot_uses(x.shape) == 0
    empty = torch.zeros(3, 0, dtype=torch.complex64)
    assert framer.frame(empty).shape == (3, 0) and framer.data_of(framer.frame(empty), length=0).shape == (3, 0)


# --- perfect CSI ---------------------------------------------------------------------------------


@pytest.mark.parametrize("family", ["tdl", "cdl"])
def test_noiseless_perfect_csi_round_trip_returns_the_sent_symbols(family):
    # guard carriers, a DC null and pilots, and a length that leaves the last slot half empty
    channel = build_channel(family, ODD)
    receiver = PerfectCSI(framer_of(channel))
    x = qpsk((2, 1000), seed=2)
    out = through(channel, receiver, x, no=0.0, seed=3)
    assert out.y.shape == out.h.shape == (2, 1000)
    assert torch.allclose(out.y, out.h * x, atol=1e-6)  # noise-free: exactly h x on every data RE
    assert torch.allclose(out.y / out.h, x, atol=1e-4)
    assert out.h.abs().min() > 0 and not torch.equal(out.h[0], out.h[1])  # rows fade independently


def test_perfect_csi_takes_per_resource_element_noise_variances_to_the_data_res():
    channel = TDLChannel(**SMALL)
    framer = framer_of(channel)
    x = qpsk((2, 500), seed=3)
    res = framer.frame(x)
    no = torch.rand(res.shape, generator=gen(4))
    out = PerfectCSI(framer)(channel(res, no=no, generator=gen(5)), length=500)
    assert torch.equal(out.no, framer.data_of(no, length=500))


# --- LS receiver ---------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.complex64, torch.complex128])
def test_ls_shapes_and_dtypes_follow_the_input(dtype):
    channel = TDLChannel(**SMALL)
    out = through(channel, ls_receiver(channel, dtype), qpsk((3, 700), seed=1, dtype=dtype),
                  no=torch.tensor([0.1, 0.2, 0.3]), seed=0)
    assert out.y.shape == out.h.shape == out.no.shape == (3, 700) and out.y.dtype == out.h.dtype == dtype
    assert not out.no.is_complex() and out.no.dtype == torch.empty((), dtype=dtype).real.dtype
    assert torch.equal(out.h, torch.ones_like(out.h))


def test_noiseless_ls_on_a_static_channel_returns_the_sent_symbols():
    x = qpsk((1, 2000), seed=4)
    channel = TDLChannel(model="B", speed_kmh=0, **SMALL)
    for equalizer in ("lmmse", "zf"):
        out = through(channel, ls_receiver(channel, equalizer=equalizer), x, no=0.0, seed=5)
        assert torch.allclose(out.y, x, atol=1e-4) and float(out.no.max()) < 1e-6


def test_ls_estimates_are_close_to_the_true_response_at_high_snr():
    channel = TDLChannel(model="A", delay_spread_ns=30, speed_kmh=3, **SMALL)
    receiver = ls_receiver(channel)
    h = channel.blocks(device="cpu", dtype=torch.complex64).frequency_response(300, generator=gen(13))
    no = 1e-4
    noise = torch.randn(h.shape, dtype=torch.complex64, generator=gen(14)) * no**0.5
    y = h * receiver.framer.grids(receiver.framer.frame(qpsk((300, receiver.framer.num_data_symbols), seed=15))) + noise
    h_hat, err_var = receiver.estimator(y[:, None, None], torch.tensor(no))
    mse = (h_hat[:, 0, 0, 0, 0] - h).abs().square().mean().item()
    assert mse < 2 * no and abs(err_var.mean().item() / no - 1) < 0.01  # LS on unit pilots: error ~ no


def test_ls_equalisers_match_the_scalar_formula_for_one_antenna():
    x = qpsk((1, 3000), seed=16)
    channel = TDLChannel(model="C", speed_kmh=60, **SMALL)
    outs = {eq: through(channel, ls_receiver(channel, equalizer=eq), x, no=0.05, seed=17) for eq in ("lmmse", "zf")}
    assert torch.allclose(outs["lmmse"].y, outs["zf"].y, atol=1e-4, rtol=1e-4)
    assert torch.allclose(outs["lmmse"].no, outs["zf"].no, atol=1e-5, rtol=1e-3)
    # on one grid: x_hat = y / h_hat, no_eff = (no + err_var) / |h_hat|^2, err_var = no * error_gain
    for equalizer in ("lmmse", "zf"):
        receiver = ls_receiver(channel, equalizer=equalizer)
        framer = receiver.framer
        h = channel.blocks(device="cpu", dtype=torch.complex64).frequency_response(20, generator=gen(18))
        noise = torch.randn(h.shape, dtype=torch.complex64, generator=gen(19)) * 0.05**0.5
        y = h * framer.grids(framer.frame(qpsk((20, framer.num_data_symbols), seed=20))) + noise
        x_hat, no_eff = receiver.estimate_and_equalize(y, torch.tensor(0.05))
        h_hat, _ = receiver.estimator(y[:, None, None], torch.tensor(0.05))
        h_hat = framer.data_of_grids(h_hat[:, 0, 0, 0, 0])
        err_var = framer.data_of_grids(0.05 * receiver.error_gain[None])
        assert torch.allclose(x_hat, framer.data_of_grids(y) / h_hat, atol=1e-4, rtol=1e-4)
        assert torch.allclose(no_eff, (0.05 + err_var) / h_hat.abs().square(), atol=1e-6, rtol=1e-3)


def test_ls_error_variance_is_the_sum_of_squared_interpolation_weights():
    gains = {}
    channel = TDLChannel(**SMALL)
    for interpolation in ("nearest", "linear", "linear_time_average"):
        gains[interpolation] = ls_receiver(channel, interpolation=interpolation).error_gain
        assert gains[interpolation].shape == (14, 24)
    # pilots on symbols 2 and 11, every subcarrier: linear in time (extrapolated at the edges)
    s = torch.arange(14, dtype=torch.float32)
    linear = ((11 - s) / 9) ** 2 + ((s - 2) / 9) ** 2
    assert torch.allclose(gains["linear"], linear[:, None].expand(14, 24), atol=1e-5)
    assert torch.allclose(gains["nearest"], torch.ones(14, 24), atol=1e-6)
    assert torch.allclose(gains["linear_time_average"], torch.full((14, 24), 0.5), atol=1e-6)


@pytest.mark.parametrize("interpolation", ["nearest", "linear", "linear_time_average"])
def test_ls_error_gain_equals_the_per_pilot_sum_of_squared_weights(interpolation):
    # one probe per pilot (the definition) against one probe per pilot OFDM symbol (the shortcut),
    # on a grid with guard carriers, a DC null and three pilot symbols
    channel = TDLChannel(fft_size=16, num_guard_carriers=(2, 1), dc_null=True, pilot_ofdm_symbol_indices=[1, 6, 12])
    receiver = ls_receiver(channel, torch.complex128, interpolation=interpolation)
    grid = receiver.framer.grid
    pilot_at = torch.nonzero(grid.build_type_grid()[0, 0].reshape(-1) == 1).reshape(-1)
    pilots = grid.pilot_pattern.pilots.reshape(-1)
    probes = torch.zeros(len(pilot_at), 14 * 16, dtype=torch.complex128)
    probes[torch.arange(len(pilot_at)), pilot_at] = pilots
    weights, _ = receiver.estimator(probes.reshape(-1, 1, 1, 14, 16), torch.tensor(1.0, dtype=torch.float64))
    expected = weights[:, 0, 0, 0, 0].abs().square().sum(dim=0)
    assert expected.shape == (14, 12) and torch.allclose(receiver.error_gain, expected, atol=1e-12)


@pytest.mark.parametrize("interpolation", ["nearest", "linear", "linear_time_average"])
def test_ls_effective_noise_variance_is_calibrated(interpolation):
    # static channel: the interpolation is unbiased, so |x_hat - x|^2 / no_eff must average to 1
    channel = TDLChannel(model="C", speed_kmh=0, **SMALL)
    x = qpsk((8, 20_000), seed=21)
    out = through(channel, ls_receiver(channel, interpolation=interpolation), x, no=0.3, seed=22)
    ratio = ((out.y - x).abs().square() / out.no).double()
    rows = ratio.mean(dim=1)  # rows are independent
    assert abs(rows.mean().item() - 1) < 5 * rows.std().item() / np.sqrt(8) + 0.01, rows


def test_ls_rejects_per_symbol_noise_variances():
    channel = TDLChannel(**SMALL)
    receiver = ls_receiver(channel)
    res = receiver.framer.frame(qpsk((1, 100), seed=0))
    no = torch.rand(res.shape, generator=gen(18))
    with pytest.raises(ValueError, match="one noise variance per row"):
        receiver(channel(res, no=no, generator=gen()), length=100)


# --- through the link ----------------------------------------------------------------------------


def _uncoded(channel, esno_db: float, *, num_bytes: int, seed: int, receiver: dict | None = None):
    packets = [np.random.default_rng(seed).bytes(num_bytes)]
    config = LinkConfig(code="none", crc="none", modulation="qpsk", receiver=receiver or {})
    _, stats_ = Link(config, channel, device="cpu").transmit(packets, snr_db=esno_db, generator=gen(seed))
    return stats_.raw_bit_errors / stats_.coded_bits, stats_


def test_flat_ofdm_with_perfect_csi_has_the_rayleigh_ber():
    esno_db, num_bytes = 5.0, 100_000  # 400k QPSK symbols
    flat = TDLChannel(model="A", delay_spread_ns=0, speed_kmh=500, pilot_pattern="none", **SMALL)
    ber_ofdm, stats_ = _uncoded(flat, esno_db, num_bytes=num_bytes, seed=19)
    ber_rayleigh, _ = _uncoded(RayleighChannel(), esno_db, num_bytes=num_bytes, seed=19)
    theory = rayleigh_qpsk_ber(esno_db)
    # Spread of the BER estimate if each slot held one fade (conservative: the gain also changes
    # within a slot at 500 km/h): std of the conditional BER Q(sqrt(2 g |h|^2)) over |h|^2 ~ Exp(1).
    g = 10 ** (esno_db / 10) / 2
    second_moment = integrate.quad(lambda a: stats.norm.sf(np.sqrt(2 * g * a)) ** 2 * np.exp(-a), 0, np.inf)[0]
    slots = stats_.channel_uses / (24 * 14)
    sigma = np.sqrt((second_moment - theory**2) / slots)
    assert abs(ber_ofdm - theory) < 4 * sigma, (ber_ofdm, theory, sigma)
    assert abs(ber_rayleigh - theory) < 0.03 * theory
    assert abs(ber_ofdm - ber_rayleigh) < 4 * sigma + 0.03 * theory


def test_ls_estimation_costs_ber_against_perfect_csi_at_low_snr():
    common = {"model": "C", "delay_spread_ns": 100, "speed_kmh": 30, **SMALL}
    perfect, _ = _uncoded(TDLChannel(**common), 0.0, num_bytes=20_000, seed=20)
    ls, _ = _uncoded(TDLChannel(**common), 0.0, num_bytes=20_000, seed=20, receiver={"channel_estimation": "ls"})
    assert abs(perfect - rayleigh_qpsk_ber(0.0)) < 0.02  # frequency-selective, still Rayleigh per RE
    assert ls > 1.2 * perfect, (ls, perfect)  # same channel and noise draws: the estimate's noise costs


@pytest.mark.parametrize("estimation", ["perfect", "ls"])
def test_link_over_ofdm_is_reproducible_and_leaves_global_generators_alone(estimation):
    torch_state, sionna_state = torch.random.get_rng_state(), sionna_config.torch_rng("cpu").get_state()
    channel = TDLChannel(speed_kmh=[3, 100], **SMALL)
    link = Link(LinkConfig(code="none", crc="none", receiver={"channel_estimation": estimation}), channel, device="cpu")
    seen = []
    demap = link.modem.demap
    link.modem.demap = lambda x, no: seen.append(demap(x, no)) or seen[-1]
    packets = [bytes(range(200))]
    for seed in (9, 9, 10):
        link.transmit(packets, snr_db=3.0, generator=gen(seed))
    assert torch.equal(seen[0], seen[1]) and not torch.equal(seen[0], seen[2])
    assert torch.equal(torch.random.get_rng_state(), torch_state)
    assert torch.equal(sionna_config.torch_rng("cpu").get_state(), sionna_state)


# --- pilot overhead: statistics and Eb/N0 --------------------------------------------------------


@pytest.mark.parametrize("estimation", ["perfect", "ls"])
def test_pilot_uses_and_the_noise_variance_follow_sionnas_ebnodb2no_with_the_resource_grid(estimation):
    params = {**ODD, "cyclic_prefix_length": 4}
    channel = TDLChannel(**params)
    config = LinkConfig(code="ldpc", rate=0.5, crc="CRC24A", modulation="16qam", snr_definition="ebno",
                        receiver={"channel_estimation": estimation})
    link = Link(config, channel, device="cpu")
    used = []
    forward = channel.forward
    channel.forward = lambda x, *, no, generator: used.append(no) or forward(x, no=no, generator=generator)
    _, stats_ = link.transmit([bytes(900), bytes(37)], snr_db=4.0, generator=gen(1))
    # independent count: pilot REs per slot from the type grid, times the slots the data needs
    types = channel.resource_grid(device="cpu", dtype=torch.complex64).build_type_grid()[0, 0]
    data_per_slot, pilots_per_slot = int((types == 0).sum()), int((types == 1).sum())
    slots = math.ceil(stats_.channel_uses / data_per_slot)
    assert stats_.pilot_uses == slots * pilots_per_slot == slots * 52
    coderate = stats_.payload_bits / (4 * stats_.channel_uses)
    plain = float(ebnodb2no(4.0, 4, coderate, device="cpu"))
    expected = plain * (stats_.channel_uses + stats_.pilot_uses) / stats_.channel_uses * (1 + 4 / 32)
    assert used == [pytest.approx(expected, rel=1e-12)]
    # whole slots: exactly Sionna's ebnodb2no with the resource grid
    grid = channel.resource_grid(device="cpu", dtype=torch.complex64)
    for num_slots in (1, 3):
        uses = num_slots * data_per_slot
        no = link.noise_variance(4.0, payload_bits=uses, channel_uses=uses, pilot_uses=num_slots * pilots_per_slot)
        sionna_no = float(ebnodb2no(4.0, 4, 0.25, resource_grid=grid, device="cpu"))
        assert no == pytest.approx(sionna_no, rel=1e-6)
    # goodput counts pilot REs as channel uses
    assert stats_.goodput_bits_per_channel_use == pytest.approx(
        stats_.payload_bits_delivered / (stats_.channel_uses + stats_.pilot_uses))


def test_pilots_leave_es_n0_alone_and_cost_0p67_db_of_eb_n0_on_the_default_grid():
    channel = TDLChannel()  # 14 x 128, pilots on 2 OFDM symbols, no CP, no guards
    esno = Link(LinkConfig(), channel, device="cpu")
    assert esno.noise_variance(3.0, payload_bits=100, channel_uses=1536, pilot_uses=256) == 10 ** (-0.3)
    ebno = Link(LinkConfig(snr_definition="ebno"), channel, device="cpu")
    with_pilots = ebno.noise_variance(3.0, payload_bits=1536, channel_uses=1536, pilot_uses=256)
    without = ebno.noise_variance(3.0, payload_bits=1536, channel_uses=1536)
    assert 10 * math.log10(with_pilots / without) == pytest.approx(10 * math.log10(14 / 12), abs=1e-6)  # 0.669 dB


@pytest.mark.parametrize(
    "channel",
    [AWGNChannel(), RayleighChannel(fading="block", coherence_symbols=16), RicianChannel(k_factor=3.0),
     JakesChannel(speed_kmh=100.0, carrier_frequency_hz=3e9, symbol_rate=2e4)],
    ids=["awgn", "rayleigh", "rician", "jakes"],
)
@pytest.mark.parametrize("definition", ["esno", "ebno"])
def test_flat_channels_are_unaffected(channel, definition):
    link = Link(LinkConfig(code="ldpc", rate=0.5, modulation="16qam", snr_definition=definition), channel, device="cpu")
    assert link.channel.resource_grid(device="cpu", dtype=torch.complex64) is None and link.cp_overhead == 0.0
    seen = {}
    link_map, demap = link.modem.map, link.modem.demap
    link.modem.map = lambda bits: seen.setdefault("symbols", link_map(bits))
    link.modem.demap = lambda x, no: seen.setdefault("llr", demap(x, no))
    _, stats_ = link.transmit([bytes(range(256)) * 3, b"xyz"], snr_db=6.0, generator=gen(4))
    assert stats_.pilot_uses == 0 and stats_.goodput_bits_per_channel_use == stats_.payload_bits_delivered / stats_.channel_uses
    # the same as the channel, the modem's equalisation and demapping wired by hand
    symbols = seen["symbols"]
    coderate = stats_.payload_bits / (4 * symbols.shape[-1])
    no = 10 ** (-0.6) if definition == "esno" else float(ebnodb2no(6.0, 4, coderate, device="cpu"))
    out = channel(symbols, no=no, generator=gen(4))
    assert torch.equal(seen["llr"], demap(*link.modem.equalize(out)))


# --- deprecated spelling in scenario files -------------------------------------------------------


def test_deprecated_channel_params_still_work_and_warn():
    channel = {"model": "tdl", "params": {"model": "C", "channel_estimation": "ls", "interpolation": "nearest"}}
    data = tiny_scenario(channel=channel, sweep={"channel.params.equalizer": ["lmmse", "zf"]})
    with pytest.warns(DeprecationWarning) as caught:
        loaded = validate_scenario(data, source="x.yaml", check_models=False)
    messages = [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)]
    assert messages == [
        "x.yaml: channel.params.channel_estimation is deprecated: write link.receiver.channel_estimation (the receiver is the link's)",
        "x.yaml: channel.params.interpolation is deprecated: write link.receiver.interpolation (the receiver is the link's)",
        "x.yaml: sweep.channel.params.equalizer is deprecated: write sweep.link.receiver.equalizer (the receiver is the link's)",
    ]
    assert loaded.scenario.link.receiver == ReceiverSettings(channel_estimation="ls", interpolation="nearest")
    assert loaded.scenario.channel.params == {"model": "C"}
    assert [dict(p.values)["link.receiver.equalizer"] for p in loaded.points] == ["lmmse", "lmmse", "zf", "zf"]  # x 2 SNRs
    resolved = loaded.resolved()
    assert resolved["link"]["receiver"] == {"channel_estimation": "ls", "interpolation": "nearest", "equalizer": "lmmse"}
    assert "channel_estimation" not in resolved["channel"]["params"]
    assert data["channel"]["params"]["channel_estimation"] == "ls"  # the caller's dict is left alone
    # the new spelling gives the same scenario without a warning; both at once is an error
    new = tiny_scenario(channel={"model": "tdl", "params": {"model": "C"}},
                        link={"crc": "CRC24A", "code": "ldpc", "rate": 0.5, "modulation": "qpsk",
                              "receiver": {"channel_estimation": "ls", "interpolation": "nearest"}},
                        sweep={"link.receiver.equalizer": ["lmmse", "zf"]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = validate_scenario(new, source="x.yaml", check_models=False)
    assert again.resolved() == resolved
    both = tiny_scenario(channel=channel, link={"receiver": {"channel_estimation": "perfect"}})
    with pytest.raises(ConfigError, match=r"^x\.yaml: channel\.params\.channel_estimation: given as link\.receiver"):
        validate_scenario(both, source="x.yaml", check_models=False)


def test_default_receiver_is_left_out_of_the_resolved_scenario():
    # runs from before link.receiver existed resume: their resolved scenario has no such key
    loaded = validate_scenario(tiny_scenario(), source="x.yaml", check_models=False)
    assert "receiver" not in loaded.resolved()["link"]
    flat_ls = tiny_scenario(channel={"model": "rayleigh", "params": {"channel_estimation": "ls"}})
    with pytest.raises(ConfigError, match=r"channel\.params\.channel_estimation"):  # not an OFDM model: no alias
        validate_scenario(flat_ls, source="x.yaml", check_models=False)
