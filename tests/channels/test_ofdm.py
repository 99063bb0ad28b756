"""TDL and CDL over OFDM: profiles against TR 38.901, unit power, calibration, LS receiver, link BER."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import integrate, stats
from sionna.phy import config as sionna_config

from channels import CHANNELS, CDLChannel, OFDMParams, RayleighChannel, TDLChannel, build_channel
from channels.ofdm_grid import PILOT_SEED
from gosvae.errors import ConfigError
from simulation.link import Link, LinkConfig

FAMILIES = {"tdl": TDLChannel, "cdl": CDLChannel}
SMALL = {"fft_size": 24, "num_ofdm_symbols": 14}  # 24 x 14 grid: 288 data REs with pilots on 2, 11


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def qpsk(shape: tuple[int, ...], seed: int, dtype: torch.dtype = torch.complex64) -> torch.Tensor:
    bits = torch.randint(0, 2, (2, *shape), generator=gen(seed))
    return (torch.complex(1.0 - 2.0 * bits[0], 1.0 - 2.0 * bits[1]) / np.sqrt(2)).to(dtype)


def rayleigh_qpsk_ber(esno_db: float) -> float:
    """Closed form of Gray QPSK on Rayleigh fading with perfect CSI: 0.5(1 - sqrt(g/(1+g))), g = Eb/N0."""
    g = 10 ** (esno_db / 10) / 2
    return 0.5 * (1 - np.sqrt(g / (1 + g)))


# --- parameters and registry -------------------------------------------------------------------


def test_registered_and_defaults_resolve_per_receiver_mode():
    assert "tdl" in CHANNELS and "cdl" in CHANNELS
    assert isinstance(build_channel("tdl"), TDLChannel) and isinstance(build_channel("cdl"), CDLChannel)
    ls = OFDMParams(channel_estimation="ls")
    assert (ls.interpolation, ls.equalizer, ls.pilot_ofdm_symbol_indices) == ("linear", "lmmse", (2, 11))
    perfect = OFDMParams(pilot_pattern="none")
    assert (perfect.interpolation, perfect.equalizer, perfect.pilot_ofdm_symbol_indices) == (None, None, ())
    for params in (ls, perfect, OFDMParams(speed_kmh=[3, 30])):
        assert OFDMParams(**params.model_dump()) == params  # a resolved scenario reloads as is


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"model": "F"}, "model"),
        ({"speed_kmh": [30, 3]}, "speed_kmh"),
        ({"speed_kmh": -1}, "speed_kmh"),
        ({"subcarrier_spacing_hz": 20e3}, "subcarrier_spacing_hz"),
        ({"carrier_frequency_hz": 1e8}, "carrier_frequency_hz"),
        ({"equalizer": "zf"}, "equalizer"),
        ({"interpolation": "linear"}, "interpolation"),
        ({"pilot_pattern": "none", "channel_estimation": "ls"}, "channel_estimation"),
        ({"pilot_pattern": "none", "pilot_ofdm_symbol_indices": [2]}, "pilot_ofdm_symbol_indices"),
        ({"num_ofdm_symbols": 7}, "pilot_ofdm_symbol_indices"),  # default [2, 11] does not fit
        ({"pilot_ofdm_symbol_indices": [3, 3]}, "pilot_ofdm_symbol_indices"),
        ({"cyclic_prefix_length": 200}, "cyclic_prefix_length"),
        ({"delay_spread": 100}, "delay_spread"),
    ],
)
def test_bad_parameters_name_the_field(params, field):
    with pytest.raises(ConfigError, match=rf"^channel\.params\.{field}: "):
        build_channel("tdl", params)


# --- profiles ------------------------------------------------------------------------------------

# TR 38.901 Table 7.7.2-1 (TDL-A): normalised delays and powers (dB) of taps 1-10.
TDL_A_DELAYS = [0.0, 0.3819, 0.4025, 0.5868, 0.4610, 0.5375, 0.6708, 0.5750, 0.7618, 1.5375]
TDL_A_POWERS_DB = [-13.4, 0.0, -2.2, -4.0, -6.0, -8.2, -9.9, -10.5, -7.5, -15.9]
# TR 38.901 Tables 7.7.2-4/5 and 7.7.1-4/5: K-factor in dB, LoS power over the NLoS part of path 1.
K_FACTOR_DB = {"D": 13.3, "E": 22.0}


@pytest.mark.parametrize("model", "ABCDE")
def test_tdl_power_delay_profiles_are_normalised_and_follow_tr38901(model):
    tdl = TDLChannel(model=model, delay_spread_ns=100).blocks(device="cpu", dtype=torch.complex128).cir_model
    powers = tdl.mean_powers.numpy()
    assert abs(powers.sum() - 1) < 1e-12
    if model == "A":
        relative_db = 10 * np.log10(powers / powers.max())
        np.testing.assert_allclose(relative_db[:10], TDL_A_POWERS_DB, atol=1e-9)
        np.testing.assert_allclose(tdl.delays.numpy()[:10], np.array(TDL_A_DELAYS) * 100e-9, rtol=1e-12)
    if model in K_FACTOR_DB:
        assert abs(10 * np.log10(float(tdl.k_factor)) - K_FACTOR_DB[model]) < 0.05


@pytest.mark.parametrize("model", "ABCDE")
def test_cdl_cluster_powers_are_normalised(model):
    cdl = CDLChannel(model=model).blocks(device="cpu", dtype=torch.complex128).cir_model
    powers = cdl._powers.numpy()  # Sionna keeps the (NLoS) cluster powers private
    assert abs(powers.sum() - 1) < 1e-12
    if model == "A":  # Table 7.7.1-1 shares the TDL-A power column
        np.testing.assert_allclose(10 * np.log10(powers / powers.max())[:10], TDL_A_POWERS_DB, atol=1e-9)
    if model in K_FACTOR_DB:  # Sionna keeps P_LoS / P_NLoS(all clusters); the table's K is over cluster 1
        assert abs(10 * np.log10(float(cdl._k_factor) / powers[0]) - K_FACTOR_DB[model]) < 0.05


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("model", "ABCDE")
def test_average_power_gain_is_one(family, model):
    channel = FAMILIES[family](model=model, delay_spread_ns=300, speed_kmh=30)
    slots = 600 if family == "tdl" else 150
    h = channel.blocks(device="cpu", dtype=torch.complex64).frequency_response(slots, generator=gen(11))
    per_slot = h.abs().square().double().mean(dim=(1, 2))  # independent slots
    mean, sigma = per_slot.mean().item(), per_slot.std().item() / np.sqrt(slots)
    assert abs(mean - 1) < 5 * sigma + 1e-3, (mean, sigma)


def test_zero_delay_spread_gives_a_flat_rayleigh_channel():
    channel = TDLChannel(model="A", delay_spread_ns=0, speed_kmh=0, pilot_pattern="none", **SMALL)
    h = channel.blocks(device="cpu", dtype=torch.complex64).frequency_response(2000, generator=gen(12))
    assert torch.allclose(h, h[:, :1, :1].expand_as(h), atol=1e-5)  # same gain on every RE of a slot
    power = h[:, 0, 0].abs().square().double().numpy()
    assert stats.kstest(power, "expon").pvalue > 1e-3  # |h|^2 ~ Exp(1)


# --- contract: shapes, calibration, reproducibility ---------------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("estimation", ["perfect", "ls"])
@pytest.mark.parametrize("dtype", [torch.complex64, torch.complex128])
def test_shapes_and_dtypes_follow_the_input(family, estimation, dtype):
    channel = FAMILIES[family](channel_estimation=estimation, **SMALL)
    out = channel(qpsk((3, 700), seed=1, dtype=dtype), no=torch.tensor([0.1, 0.2, 0.3]), generator=gen())
    assert out.y.shape == out.h.shape == (3, 700) and out.y.dtype == out.h.dtype == dtype
    assert not out.no.is_complex() and out.no.dtype == torch.empty((), dtype=dtype).real.dtype
    assert torch.broadcast_shapes(out.no.shape, out.y.shape) == (3, 700)
    if estimation == "ls":
        assert torch.equal(out.h, torch.ones_like(out.h)) and out.no.shape == (3, 700)
    empty = channel(torch.zeros(2, 0, dtype=dtype), no=0.1, generator=gen())
    assert empty.y.shape == empty.h.shape == (2, 0)


@pytest.mark.parametrize("family", FAMILIES)
def test_noiseless_perfect_csi_round_trip_returns_the_sent_symbols(family):
    # guard carriers, a DC null and pilots, and a length that leaves the last slot half empty
    channel = FAMILIES[family](fft_size=32, num_guard_carriers=(3, 2), dc_null=True, pilot_ofdm_symbol_indices=[0, 7])
    x = qpsk((2, 1000), seed=2)
    out = channel(x, no=0.0, generator=gen(3))
    assert torch.allclose(out.y, out.h * x, atol=1e-6)  # noise-free: exactly h x on every data RE
    assert torch.allclose(out.y / out.h, x, atol=1e-4)
    assert out.h.abs().min() > 0 and not torch.equal(out.h[0], out.h[1])  # rows fade independently


def test_noiseless_ls_on_a_static_channel_returns_the_sent_symbols():
    x = qpsk((1, 2000), seed=4)
    for equalizer in ("lmmse", "zf"):
        channel = TDLChannel(model="B", speed_kmh=0, channel_estimation="ls", equalizer=equalizer, **SMALL)
        out = channel(x, no=0.0, generator=gen(5))
        assert torch.allclose(out.y, x, atol=1e-4) and float(out.no.max()) < 1e-6


@pytest.mark.parametrize("family", FAMILIES)
def test_noise_has_variance_no_per_symbol_with_perfect_csi(family):
    channel = FAMILIES[family](model="C", speed_kmh=30, **SMALL)
    x = qpsk((3, 40_000), seed=6)
    for no in (torch.tensor([0.05, 0.5, 2.0]), torch.tensor([0.05, 0.5, 2.0])[:, None].expand(3, 40_000)):
        out = channel(x, no=no, generator=gen(7))
        residual = (out.y - out.h * x).to(torch.complex128)
        for row, variance in enumerate([0.05, 0.5, 2.0]):
            measured = residual[row].abs().square().mean().item()
            assert abs(measured / variance - 1) < 5 / np.sqrt(40_000)  # Exp(no): relative std 1/sqrt(n)
            assert abs(residual[row].real.var().item() / (variance / 2) - 1) < 5 * np.sqrt(2 / 40_000)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("estimation", ["perfect", "ls"])
def test_same_seed_same_output_and_global_generators_untouched(family, estimation):
    torch_state, sionna_state = torch.random.get_rng_state(), sionna_config.torch_rng("cpu").get_state()
    channel = FAMILIES[family](channel_estimation=estimation, speed_kmh=[3, 100], **SMALL)
    x = qpsk((2, 900), seed=8)
    first, second = (channel(x, no=0.1, generator=gen(9)) for _ in range(2))
    other = channel(x, no=0.1, generator=gen(10))
    assert torch.equal(torch.random.get_rng_state(), torch_state)
    assert torch.equal(sionna_config.torch_rng("cpu").get_state(), sionna_state)
    assert all(torch.equal(a, b) for a, b in zip((first.y, first.h, first.no), (second.y, second.h, second.no)))
    assert not torch.equal(first.y, other.y)
    # a fresh model with the same seed agrees too: nothing depends on hidden state
    again = FAMILIES[family](channel_estimation=estimation, speed_kmh=[3, 100], **SMALL)(x, no=0.1, generator=gen(9))
    assert torch.equal(first.y, again.y)


def test_pilots_are_a_fixed_unit_energy_qpsk_sequence():
    grid = TDLChannel(**SMALL).blocks(device="cpu", dtype=torch.complex64).grid
    pilots = grid.pilot_pattern.pilots.reshape(-1)
    assert pilots.numel() == 2 * 24 and torch.allclose(pilots.abs(), torch.ones(48))
    bits = torch.randint(0, 2, (2, 48), generator=torch.Generator().manual_seed(PILOT_SEED))
    expected = torch.complex(1.0 - 2.0 * bits[0], 1.0 - 2.0 * bits[1]) / np.sqrt(2)
    assert torch.allclose(pilots, expected)


# --- LS receiver --------------------------------------------------------------------------------


def test_ls_estimates_are_close_to_the_true_response_at_high_snr():
    channel = TDLChannel(model="A", delay_spread_ns=30, speed_kmh=3, channel_estimation="ls", **SMALL)
    blocks = channel.blocks(device="cpu", dtype=torch.complex64)
    h = blocks.frequency_response(300, generator=gen(13))
    no = 1e-4
    noise = torch.randn(h.shape, dtype=torch.complex64, generator=gen(14)) * no**0.5
    y = h * blocks.map(qpsk((300, blocks.num_data_symbols), seed=15)) + noise
    h_hat, err_var = blocks.estimator(y[:, None, None], torch.tensor(no))
    mse = (h_hat[:, 0, 0, 0, 0] - h).abs().square().mean().item()
    assert mse < 2 * no and abs(err_var.mean().item() / no - 1) < 0.01  # LS on unit pilots: error ~ no


def test_ls_equalisers_match_the_scalar_formula_for_one_antenna():
    x = qpsk((1, 3000), seed=16)
    outs = {}
    for equalizer in ("lmmse", "zf"):
        channel = TDLChannel(model="C", speed_kmh=60, channel_estimation="ls", equalizer=equalizer, **SMALL)
        outs[equalizer] = channel(x, no=0.05, generator=gen(17))
    assert torch.allclose(outs["lmmse"].y, outs["zf"].y, atol=1e-4, rtol=1e-4)
    assert torch.allclose(outs["lmmse"].no, outs["zf"].no, atol=1e-5, rtol=1e-3)
    # on one grid: x_hat = y / h_hat, no_eff = (no + err_var) / |h_hat|^2, err_var = no * error_gain
    for equalizer in ("lmmse", "zf"):
        channel = TDLChannel(model="C", speed_kmh=60, channel_estimation="ls", equalizer=equalizer, **SMALL)
        blocks = channel.blocks(device="cpu", dtype=torch.complex64)
        h = blocks.frequency_response(20, generator=gen(18))
        noise = torch.randn(h.shape, dtype=torch.complex64, generator=gen(19)) * 0.05**0.5
        y = h * blocks.map(qpsk((20, blocks.num_data_symbols), seed=20)) + noise
        x_hat, no_eff = blocks.estimate_and_equalize(y, torch.tensor(0.05))
        h_hat, _ = blocks.estimator(y[:, None, None], torch.tensor(0.05))
        h_hat, err_var = blocks.data_of(h_hat[:, 0, 0, 0, 0]), blocks.data_of(0.05 * blocks.error_gain[None])
        assert torch.allclose(x_hat, blocks.data_of(y) / h_hat, atol=1e-4, rtol=1e-4)
        assert torch.allclose(no_eff, (0.05 + err_var) / h_hat.abs().square(), atol=1e-6, rtol=1e-3)


def test_ls_error_variance_is_the_sum_of_squared_interpolation_weights():
    gains = {}
    for interpolation in ("nearest", "linear", "linear_time_average"):
        channel = TDLChannel(channel_estimation="ls", interpolation=interpolation, **SMALL)
        gains[interpolation] = channel.blocks(device="cpu", dtype=torch.complex64).error_gain
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
    channel = TDLChannel(channel_estimation="ls", interpolation=interpolation, fft_size=16,
                         num_guard_carriers=(2, 1), dc_null=True, pilot_ofdm_symbol_indices=[1, 6, 12])
    blocks = channel.blocks(device="cpu", dtype=torch.complex128)
    pilot_at = torch.nonzero(blocks.grid.build_type_grid()[0, 0].reshape(-1) == 1).reshape(-1)
    pilots = blocks.grid.pilot_pattern.pilots.reshape(-1)
    probes = torch.zeros(len(pilot_at), 14 * 16, dtype=torch.complex128)
    probes[torch.arange(len(pilot_at)), pilot_at] = pilots
    weights, _ = blocks.estimator(probes.reshape(-1, 1, 1, 14, 16), torch.tensor(1.0, dtype=torch.float64))
    expected = weights[:, 0, 0, 0, 0].abs().square().sum(dim=0)
    assert expected.shape == (14, 12) and torch.allclose(blocks.error_gain, expected, atol=1e-12)


@pytest.mark.parametrize("interpolation", ["nearest", "linear", "linear_time_average"])
def test_ls_effective_noise_variance_is_calibrated(interpolation):
    # static channel: the interpolation is unbiased, so |x_hat - x|^2 / no_eff must average to 1
    channel = TDLChannel(model="C", speed_kmh=0, channel_estimation="ls", interpolation=interpolation, **SMALL)
    x = qpsk((8, 20_000), seed=21)
    out = channel(x, no=0.3, generator=gen(22))
    ratio = ((out.y - x).abs().square() / out.no).double()
    rows = ratio.mean(dim=1)  # rows are independent
    assert abs(rows.mean().item() - 1) < 5 * rows.std().item() / np.sqrt(8) + 0.01, rows


def test_ls_rejects_per_symbol_noise_variances():
    channel = TDLChannel(channel_estimation="ls", **SMALL)
    no = torch.rand(1, 100, generator=gen(18))
    with pytest.raises(ValueError, match="one noise variance per row"):
        channel(qpsk((1, 100), seed=0), no=no, generator=gen())


# --- through the link ---------------------------------------------------------------------------


def _uncoded_ber(channel, esno_db: float, *, num_bytes: int, seed: int) -> tuple[float, int]:
    packets = [np.random.default_rng(seed).bytes(num_bytes)]
    link = Link(LinkConfig(code="none", crc="none", modulation="qpsk"), channel, device="cpu")
    _, stats_ = link.transmit(packets, snr_db=esno_db, generator=gen(seed))
    return stats_.raw_bit_errors / stats_.coded_bits, stats_.channel_uses


def test_flat_ofdm_with_perfect_csi_has_the_rayleigh_ber():
    esno_db, num_bytes = 5.0, 100_000  # 400k QPSK symbols
    flat = TDLChannel(model="A", delay_spread_ns=0, speed_kmh=500, pilot_pattern="none", **SMALL)
    ber_ofdm, symbols = _uncoded_ber(flat, esno_db, num_bytes=num_bytes, seed=19)
    ber_rayleigh, _ = _uncoded_ber(RayleighChannel(), esno_db, num_bytes=num_bytes, seed=19)
    theory = rayleigh_qpsk_ber(esno_db)
    # Spread of the BER estimate if each slot held one fade (conservative: the gain also changes
    # within a slot at 500 km/h): std of the conditional BER Q(sqrt(2 g |h|^2)) over |h|^2 ~ Exp(1).
    g = 10 ** (esno_db / 10) / 2
    second_moment = integrate.quad(lambda a: stats.norm.sf(np.sqrt(2 * g * a)) ** 2 * np.exp(-a), 0, np.inf)[0]
    slots = symbols / (24 * 14)
    sigma = np.sqrt((second_moment - theory**2) / slots)
    assert abs(ber_ofdm - theory) < 4 * sigma, (ber_ofdm, theory, sigma)
    assert abs(ber_rayleigh - theory) < 0.03 * theory
    assert abs(ber_ofdm - ber_rayleigh) < 4 * sigma + 0.03 * theory


def test_ls_estimation_costs_ber_against_perfect_csi_at_low_snr():
    common = {"model": "C", "delay_spread_ns": 100, "speed_kmh": 30, **SMALL}
    perfect, _ = _uncoded_ber(TDLChannel(**common), 0.0, num_bytes=20_000, seed=20)
    ls, _ = _uncoded_ber(TDLChannel(channel_estimation="ls", **common), 0.0, num_bytes=20_000, seed=20)
    assert abs(perfect - rayleigh_qpsk_ber(0.0)) < 0.02  # frequency-selective, still Rayleigh per RE
    assert ls > 1.2 * perfect, (ls, perfect)  # same channel and noise draws: the estimate's noise costs
