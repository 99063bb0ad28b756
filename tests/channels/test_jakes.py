"""Jakes (Clarke) time-correlated Rayleigh fading: Doppler from speed and carrier, autocorrelation
against J0(2 pi f_d tau), power moments of the sum of sinusoids, the f_d -> 0 limit.

Statistical checks use many independent rows: the standard error of a mean is estimated from the
spread of the per-row values (rows are independent), and the tolerance is 5 of them, plus an
absolute bound so that a noisy estimate cannot pass by being vague.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import special

from channels import JakesChannel, build_channel
from channels.jakes import SPEED_OF_LIGHT
from gosvae.errors import ConfigError


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def gains(channel: JakesChannel, rows: int, length: int, *, seed: int = 0, dtype=torch.complex128) -> torch.Tensor:
    return channel(torch.ones(rows, length, dtype=dtype), no=0.0, generator=gen(seed)).h


def mean_and_error(per_row: torch.Tensor) -> tuple[complex, float]:
    """Mean over rows and its standard error (rows independent)."""
    per_row = per_row.to(torch.complex128)
    spread = float((per_row - per_row.mean()).abs().square().mean().sqrt())
    return complex(per_row.mean()), spread / math.sqrt(len(per_row))


def test_doppler_frequency_follows_speed_carrier_and_symbol_rate():
    channel = JakesChannel(speed_kmh=108.0, carrier_frequency_hz=3.5e9, symbol_rate=30e3)
    f_d = 30.0 * 3.5e9 / 299_792_458.0  # 108 km/h = 30 m/s
    assert SPEED_OF_LIGHT == 299_792_458.0
    assert channel.max_doppler_hz == pytest.approx(f_d, rel=1e-12)
    assert channel.normalized_doppler == pytest.approx(f_d / 30e3, rel=1e-12)


LAGS = [1, 5, 10, 20, 38, 50, 80, 120, 200]  # J0(2 pi 0.01 k): 0.998 ... first zero near k = 38


@pytest.mark.parametrize("num_sinusoids", [8, 16])
def test_autocorrelation_matches_clarke_j0(num_sinusoids):
    f_d_t = 0.01
    # symbol_rate 1e4 and f_d = 100 Hz: speed = f_d c / f_c
    speed_kmh = 100.0 * SPEED_OF_LIGHT / 2e9 * 3.6
    channel = JakesChannel(speed_kmh=speed_kmh, carrier_frequency_hz=2e9, symbol_rate=1e4, num_sinusoids=num_sinusoids)
    assert channel.normalized_doppler == pytest.approx(f_d_t, rel=1e-9)
    h = gains(channel, 1500, 1200, seed=num_sinusoids)
    worst = 0.0
    for lag in [0, *LAGS]:
        a, b = h[:, lag:], h[:, : h.shape[1] - lag]
        corr, error = mean_and_error((a * b.conj()).mean(dim=1))
        pseudo, pseudo_error = mean_and_error((a * b).mean(dim=1))
        expected = float(special.j0(2 * np.pi * f_d_t * lag))
        assert abs(corr - expected) <= 5 * error + 1e-9 and abs(corr - expected) < 0.03, (lag, corr, expected, error)
        assert abs(pseudo) <= 5 * pseudo_error and abs(pseudo) < 0.03, (lag, pseudo)  # circular process
        worst = max(worst, abs(corr - expected))
    assert worst > 0  # the estimate is a measurement, not an identity


@pytest.mark.parametrize("num_sinusoids", [4, 16])
def test_unit_power_and_fourth_moment_of_the_sum_of_sinusoids(num_sinusoids):
    """E|h|^2 = 1 and E|h|^4 = 2 - 1/M (M unit phasors with independent phases; 2 for Rayleigh)."""
    channel = JakesChannel(speed_kmh=300.0, carrier_frequency_hz=6e9, symbol_rate=2e4, num_sinusoids=num_sinusoids)
    power = gains(channel, 2000, 800, seed=3).abs().square()
    second, second_error = mean_and_error(power.mean(dim=1))
    fourth, fourth_error = mean_and_error(power.square().mean(dim=1))
    assert abs(second - 1) <= 5 * second_error and second_error < 0.01
    assert abs(fourth - (2 - 1 / num_sinusoids)) <= 5 * fourth_error and fourth_error < 0.02
    if num_sinusoids == 4:
        assert abs(fourth - 2) > 5 * fourth_error  # the test tells M = 4 from Rayleigh


def test_zero_doppler_gives_a_constant_gain_per_row():
    channel = JakesChannel(speed_kmh=0.0, carrier_frequency_hz=2e9, symbol_rate=1e5)
    h = gains(channel, 4000, 50, seed=4)
    assert torch.equal(h, h[:, :1].expand_as(h))
    power = h[:, 0].abs().square()
    assert len(torch.unique(h[:, 0].real)) == 4000  # rows independent
    assert abs(float(power.mean()) - 1) < 5 * float(power.std()) / math.sqrt(4000)
    # a slow terminal: the gain barely moves over the row, |h(t) - h(0)| <= sqrt(M) 2 pi f_d t
    slow = JakesChannel(speed_kmh=1e-3, carrier_frequency_hz=2e9, symbol_rate=1e5)
    drift = 2 * math.pi * slow.normalized_doppler * 49 * math.sqrt(16)
    h = gains(slow, 10, 50, seed=5)
    assert float((h - h[:, :1]).abs().max()) <= drift


def test_output_is_gain_times_input_plus_noise_and_rows_are_independent():
    channel = JakesChannel(speed_kmh=60.0, carrier_frequency_hz=2e9, symbol_rate=1e4)
    x = torch.polar(torch.ones(3, 400), torch.rand(3, 400, generator=gen(6)) * 6.28).to(torch.complex64)
    out = channel(x, no=0.2, generator=gen(7))
    noise = channel(torch.zeros_like(x), no=0.2, generator=gen(7)).y
    assert torch.allclose(out.y, out.h * x + noise, atol=1e-6)
    assert not torch.allclose(out.h[0], out.h[1])


def test_long_rows_stay_accurate_in_complex64():
    """Phases are computed in float64 turns: complex64 follows complex128 to float32 rounding at 10^6 symbols."""
    channel = JakesChannel(speed_kmh=120.0, carrier_frequency_hz=3.5e9, symbol_rate=1e5)
    h64 = gains(channel, 1, 1_000_000, seed=8, dtype=torch.complex64)
    h128 = gains(channel, 1, 1_000_000, seed=8, dtype=torch.complex128)
    assert float((h64.to(torch.complex128) - h128).abs().max()) < 1e-5


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"carrier_frequency_hz": 2e9, "symbol_rate": 1e4}, "channel.params.speed_kmh: required field is missing"),
        ({"speed_kmh": -3, "carrier_frequency_hz": 2e9, "symbol_rate": 1e4}, "channel.params.speed_kmh: must be >= 0"),
        ({"speed_kmh": 3, "carrier_frequency_hz": 0, "symbol_rate": 1e4},
         "channel.params.carrier_frequency_hz: must be > 0"),
        ({"speed_kmh": 3, "carrier_frequency_hz": 2e9, "symbol_rate": 1e4, "num_sinusoids": 0},
         "channel.params.num_sinusoids: must be >= 1"),
        ({"speed_kmh": 3, "carrier_frequency_hz": 2e9, "symbol_rate": 1e4, "doppler_hz": 5},
         "channel.params.doppler_hz: unknown field"),
    ],
)
def test_bad_parameters_give_one_line_config_errors(params, message):
    with pytest.raises(ConfigError) as info:
        build_channel("jakes", params)
    assert str(info.value).startswith(message) and "\n" not in str(info.value)
