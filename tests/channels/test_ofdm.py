"""TDL and CDL over OFDM: profiles against TR 38.901, unit power, calibration, resource grid.

The models only propagate (y = H x + n per RE, true H); the framing on the resource grid and the
receivers (perfect CSI, LS) are the link's: tests/simulation/link/test_ofdm_receiver.py."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats
from sionna.phy import config as sionna_config

from channels import CHANNELS, CDLChannel, OFDMParams, TDLChannel, build_channel
from channels.ofdm_grid import PILOT_SEED
from gosvae.errors import ConfigError

FAMILIES = {"tdl": TDLChannel, "cdl": CDLChannel}
SMALL = {"fft_size": 24, "num_ofdm_symbols": 14}  # 24 x 14 grid: 288 data REs with pilots on 2, 11


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def qpsk(shape: tuple[int, ...], seed: int, dtype: torch.dtype = torch.complex64) -> torch.Tensor:
    bits = torch.randint(0, 2, (2, *shape), generator=gen(seed))
    return (torch.complex(1.0 - 2.0 * bits[0], 1.0 - 2.0 * bits[1]) / np.sqrt(2)).to(dtype)


# --- parameters and registry -------------------------------------------------------------------


def test_registered_and_defaults_resolve_per_pilot_pattern():
    # the receiver defaults (interpolation, equalizer per channel_estimation) are the link's now:
    # tests/simulation/link/test_ofdm_receiver.py::test_receiver_settings_resolve_per_mode
    assert "tdl" in CHANNELS and "cdl" in CHANNELS
    assert isinstance(build_channel("tdl"), TDLChannel) and isinstance(build_channel("cdl"), CDLChannel)
    kronecker = OFDMParams()
    assert kronecker.pilot_ofdm_symbol_indices == (2, 11)
    perfect = OFDMParams(pilot_pattern="none")
    assert perfect.pilot_ofdm_symbol_indices == ()
    for params in (kronecker, perfect, OFDMParams(speed_kmh=[3, 30])):
        assert OFDMParams(**params.model_dump()) == params  # a resolved scenario reloads as is


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"model": "F"}, "model"),
        ({"speed_kmh": [30, 3]}, "speed_kmh"),
        ({"speed_kmh": -1}, "speed_kmh"),
        ({"subcarrier_spacing_hz": 20e3}, "subcarrier_spacing_hz"),
        ({"carrier_frequency_hz": 1e8}, "carrier_frequency_hz"),
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


@pytest.mark.parametrize("field", ["channel_estimation", "interpolation", "equalizer"])
def test_receiver_parameters_are_rejected_with_their_new_place(field):
    # the receiver moved to the link; scenario files still using them are moved by the scenario
    # loader (tests/simulation/link/test_ofdm_receiver.py::test_deprecated_channel_params_still_work)
    with pytest.raises(ConfigError, match=rf"^channel\.params: {field}: is a receiver setting now: write link\.receiver\.{field}"):
        build_channel("tdl", {field: "ls" if field == "channel_estimation" else "zf"})


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
@pytest.mark.parametrize("dtype", [torch.complex64, torch.complex128])
def test_shapes_and_dtypes_follow_the_input(family, dtype):
    channel = FAMILIES[family](**SMALL)
    out = channel(qpsk((3, 700), seed=1, dtype=dtype), no=torch.tensor([0.1, 0.2, 0.3]), generator=gen())
    assert out.y.shape == out.h.shape == (3, 700) and out.y.dtype == out.h.dtype == dtype  # 700 REs: 2 slots + part
    assert not out.no.is_complex() and out.no.dtype == torch.empty((), dtype=dtype).real.dtype
    assert torch.broadcast_shapes(out.no.shape, out.y.shape) == (3, 700)
    grid = channel.resource_grid(device="cpu", dtype=dtype)
    assert grid.pilot_pattern.pilots.dtype == dtype and (grid.num_ofdm_symbols, grid.fft_size) == (14, 24)
    empty = channel(torch.zeros(2, 0, dtype=dtype), no=0.1, generator=gen())
    assert empty.y.shape == empty.h.shape == (2, 0)


@pytest.mark.parametrize("family", FAMILIES)
def test_noiseless_output_is_h_times_x_on_every_resource_element(family):
    # guard carriers, a DC null and pilots in the grid, and a length that leaves the last slot
    # partly empty: the model does not look at what the REs carry
    channel = FAMILIES[family](fft_size=32, num_guard_carriers=(3, 2), dc_null=True, pilot_ofdm_symbol_indices=[0, 7])
    x = qpsk((2, 1000), seed=2)
    out = channel(x, no=0.0, generator=gen(3))
    assert torch.allclose(out.y, out.h * x, atol=1e-6)  # noise-free: exactly h x on every RE
    assert torch.allclose(out.y / out.h, x, atol=1e-4)
    assert out.h.abs().min() > 0 and not torch.equal(out.h[0], out.h[1])  # rows fade independently
    slot = 14 * 32  # h is one frequency response per slot: the first slot of row 0 is a slot's draw
    h_slot = out.h[0, :slot].reshape(14, 32)
    assert not torch.allclose(h_slot[:, 0], h_slot[:, -1])  # frequency selective (the default 100 ns)


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
def test_same_seed_same_output_and_global_generators_untouched(family):
    torch_state, sionna_state = torch.random.get_rng_state(), sionna_config.torch_rng("cpu").get_state()
    channel = FAMILIES[family](speed_kmh=[3, 100], **SMALL)
    x = qpsk((2, 900), seed=8)
    first, second = (channel(x, no=0.1, generator=gen(9)) for _ in range(2))
    other = channel(x, no=0.1, generator=gen(10))
    assert torch.equal(torch.random.get_rng_state(), torch_state)
    assert torch.equal(sionna_config.torch_rng("cpu").get_state(), sionna_state)
    assert all(torch.equal(a, b) for a, b in zip((first.y, first.h, first.no), (second.y, second.h, second.no)))
    assert not torch.equal(first.y, other.y)
    # a fresh model with the same seed agrees too: nothing depends on hidden state
    again = FAMILIES[family](speed_kmh=[3, 100], **SMALL)(x, no=0.1, generator=gen(9))
    assert torch.equal(first.y, again.y)


def test_pilots_are_a_fixed_unit_energy_qpsk_sequence():
    grid = TDLChannel(**SMALL).resource_grid(device="cpu", dtype=torch.complex64)
    pilots = grid.pilot_pattern.pilots.reshape(-1)
    assert pilots.numel() == 2 * 24 and torch.allclose(pilots.abs(), torch.ones(48))
    bits = torch.randint(0, 2, (2, 48), generator=torch.Generator().manual_seed(PILOT_SEED))
    expected = torch.complex(1.0 - 2.0 * bits[0], 1.0 - 2.0 * bits[1]) / np.sqrt(2)
    assert torch.allclose(pilots, expected)
