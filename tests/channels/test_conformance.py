"""The conformance kit (channels.testing) on every built-in channel model, and on deliberately broken
models to show that each check can fail (and fails for the right reason)."""

from __future__ import annotations

import math

import pytest
import torch

from channels import CHANNELS, ChannelModel, ChannelOutput, RayleighChannel, build_channel
from channels.base import check_symbols, complex_normal, noise_variance_tensor
from channels.testing import CHECKS, check_channel_model
from gosvae.errors import ConfigError

STRUCTURAL = ["shapes", "noise_forms", "input_validation", "reproducibility", "global_rng"]
TDL_PERFECT = {"model": "A", "delay_spread_ns": 1000, "speed_kmh": 500, "fft_size": 16, "num_ofdm_symbols": 2,
               "pilot_pattern": "none"}
# A grid with pilots (the default Kronecker pattern): h is the true H on data and pilot REs alike,
# so noise_calibration holds with perfect_csi (the default); unit_power is covered above.
WITH_PILOTS = [check for check in CHECKS if check != "unit_power"]
CDL_PERFECT = {"model": "A", "delay_spread_ns": 1000, "speed_kmh": 500, "fft_size": 256, "num_ofdm_symbols": 2,
               "pilot_pattern": "none"}

# Parameters and kit options of built-in models that need them; any other built-in model is
# checked with its default parameters and the kit's defaults (and skipped if it has required
# parameters). A model whose h were an estimate would need "kit": {"perfect_csi": False}; the
# OFDM models return the true H per RE (estimation is the link's), with pilots in the grid or not.
CONFORMANCE = {
    "rayleigh": [{"params": {}}, {"params": {"fading": "block", "coherence_symbols": 4}}],
    "rician": [
        {"params": {"k_factor": 3.0}},
        {"params": {"k_factor": 10.0, "los_phase": "zero", "fading": "block", "coherence_symbols": 2}},
        {"params": {"k_factor": 0.0, "fading": "block", "coherence_symbols": 3}},
    ],
    # f_d T = 0.014: ~30 Doppler periods per row
    "jakes": [{"params": {"speed_kmh": 100.0, "carrier_frequency_hz": 3e9, "symbol_rate": 2e4}}],
    # OFDM: small grids and a large delay spread give many independent slots per row, and many rows
    # resolve E|h|^2 to 0.5 dB; Sionna's TDL/CDL draws are slow, so statistics run in complex64 only.
    "tdl": [
        {"params": TDL_PERFECT, "kit": {"num_symbols": 512, "power_batch": 256, "dtypes": (torch.complex64,)}},
        {"params": TDL_PERFECT, "kit": {"dtypes": (torch.complex128,), "checks": STRUCTURAL}},
        {"params": {"model": "A", "delay_spread_ns": 100, "speed_kmh": 30, "fft_size": 64},
         "kit": {"num_symbols": 768, "checks": WITH_PILOTS}},
    ],
    "cdl": [
        {"params": CDL_PERFECT, "kit": {"num_symbols": 512, "power_batch": 768, "dtypes": (torch.complex64,)}},
        {"params": CDL_PERFECT, "kit": {"dtypes": (torch.complex128,), "checks": STRUCTURAL}},
        {"params": {"model": "C", "delay_spread_ns": 100, "speed_kmh": 30, "fft_size": 64},
         "kit": {"num_symbols": 768, "checks": WITH_PILOTS}},
    ],
}

BUILT_IN = [entry.name for entry in CHANNELS.entries() if entry.origin == "built-in"]
CASES = [
    pytest.param(name, case, id=f"{name}-{index}")
    for name in BUILT_IN
    for index, case in enumerate(CONFORMANCE.get(name, [{"params": {}}]))
]


def test_every_built_in_model_is_covered():
    assert {"awgn", "rayleigh", "rician", "jakes"} <= set(BUILT_IN)
    assert len(CASES) >= len(BUILT_IN)


@pytest.mark.parametrize(("name", "case"), CASES)
def test_built_in_model_passes_the_conformance_kit(name, case):
    try:
        build_channel(name, case["params"])
    except ConfigError as exc:
        pytest.skip(f"add conformance parameters for '{name}' to CONFORMANCE: {exc}")
    kit = case.get("kit", {})
    report = check_channel_model(lambda: build_channel(name, case["params"]), **kit)
    assert report.passed and {r.name for r in report.results} == set(kit.get("checks", CHECKS))


# ---------------------------------------------------------------------------------------------
# Broken models: each breaks one rule.


class _Flat(ChannelModel):
    """Rayleigh fast fading written out, with hooks to break it."""

    gain_scale = 1.0

    def draw_gain(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return complex_normal(tuple(x.shape), generator=generator, dtype=x.dtype, device=x.device) * self.gain_scale

    def draw_noise(self, x: torch.Tensor, no: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return complex_normal(tuple(x.shape), generator=generator, dtype=x.dtype, device=x.device) * no.sqrt()

    def forward(self, x, *, no, generator):
        check_symbols(x)
        no_t = noise_variance_tensor(no, x)
        h = self.draw_gain(x, generator)
        return ChannelOutput(y=h * x + self.draw_noise(x, no_t, generator), h=h, no=no_t)


class WrongPower(_Flat):
    gain_scale = 1.1  # E|h|^2 = 1.21 (0.83 dB)


class NoisePerRealDimension(_Flat):
    def draw_noise(self, x, no, generator):  # the classic 3 dB mistake: variance no per real dimension
        return super().draw_noise(x, no, generator) * math.sqrt(2)


class ReportsWrongNoiseVariance(_Flat):
    def forward(self, x, *, no, generator):
        out = super().forward(x, no=no, generator=generator)
        return ChannelOutput(y=out.y, h=out.h, no=out.no * 2)


class IgnoresPerRowNoise(_Flat):
    def forward(self, x, *, no, generator):
        return super().forward(x, no=noise_variance_tensor(no, x).mean(), generator=generator)


class RealNoise(_Flat):
    def draw_noise(self, x, no, generator):  # all the noise on the real axis: not circular
        z = torch.randn(tuple(x.shape), generator=generator, dtype=x.real.dtype)
        return (z * no.sqrt()).to(x.dtype)


class UsesGlobalRng(_Flat):
    def draw_gain(self, x, generator):
        return torch.randn(tuple(x.shape), dtype=x.dtype)  # complex randn: CN(0, 1), global RNG


class GainFixedAtConstruction(_Flat):
    def __init__(self, **params):
        super().__init__(**params)
        self.table = complex_normal((100_003,), generator=torch.Generator().manual_seed(5), dtype=torch.complex128,
                                    device=torch.device("cpu"))

    def draw_gain(self, x, generator):
        return self.table[torch.arange(x.numel()) % 100_003].reshape(x.shape).to(x.dtype)


class SameGainForEveryRow(_Flat):
    def draw_gain(self, x, generator):
        return super().draw_gain(x[:1], generator).expand_as(x)


class SharedFadingAcrossRows(_Flat):
    def draw_gain(self, x, generator):  # half of the gain's power is common to all rows
        common = super().draw_gain(x[:1], generator)
        return (common + super().draw_gain(x, generator)) / math.sqrt(2)


class AlwaysComplex64(_Flat):
    def forward(self, x, *, no, generator):
        out = super().forward(x, no=no, generator=generator)
        return ChannelOutput(y=out.y.to(torch.complex64), h=out.h.to(torch.complex64), no=out.no.float())


class AddsADimension(_Flat):
    def forward(self, x, *, no, generator):
        out = super().forward(x, no=no, generator=generator)
        return ChannelOutput(y=out.y[..., None], h=out.h, no=out.no)


class AcceptsAnything(ChannelModel):
    def forward(self, x, *, no, generator):
        x = torch.as_tensor(x).to(torch.complex64 if not x.is_complex() else x.dtype)
        x = x.reshape(1, -1) if x.dim() == 1 else x
        noise = complex_normal(tuple(x.shape), generator=generator, dtype=x.dtype, device=x.device)
        no_t = torch.as_tensor(float(abs(no)) if not torch.is_tensor(no) else no, dtype=x.real.dtype)
        no_t = no_t.reshape(-1, 1) if no_t.dim() == 1 else no_t
        return ChannelOutput(y=x + noise * no_t.sqrt(), h=torch.ones_like(x), no=no_t)


class ModifiesItsInput(_Flat):
    def forward(self, x, *, no, generator):
        out = super().forward(x, no=no, generator=generator)
        x.mul_(1.0 + 1e-3)
        return out


class NoisyGainEstimate(_Flat):
    """True gain h in y, an estimate h + e (e ~ CN(0, 0.01)) returned, and the noise variance
    the receiver sees, no + 0.01 |x|^2 (|x| = 1 here): a model with estimated CSI."""

    error_variance_reported = True

    def forward(self, x, *, no, generator):
        out = super().forward(x, no=no, generator=generator)
        error = complex_normal(tuple(x.shape), generator=generator, dtype=x.dtype, device=x.device) * 0.1
        reported = out.no + 0.01 if self.error_variance_reported else out.no
        return ChannelOutput(y=out.y, h=out.h + error, no=reported)


class EstimateWithoutErrorVariance(NoisyGainEstimate):
    error_variance_reported = False  # the returned no ignores the estimation error


BROKEN = [  # (model, checks that must fail, checks that may also fail)
    (WrongPower, {"unit_power"}, set()),
    (NoisePerRealDimension, {"noise_calibration"}, set()),
    (ReportsWrongNoiseVariance, {"noise_calibration"}, set()),
    (IgnoresPerRowNoise, {"noise_calibration"}, {"noise_forms"}),
    (RealNoise, {"noise_calibration"}, set()),
    (UsesGlobalRng, {"global_rng", "reproducibility"}, {"noise_forms"}),
    (GainFixedAtConstruction, {"reproducibility"}, {"independence"}),  # the "independent" call repeats h
    (SameGainForEveryRow, {"independence"}, set()),
    (SharedFadingAcrossRows, {"independence"}, set()),
    (AlwaysComplex64, {"shapes"}, {"noise_calibration"}),  # y = h x only to float32 precision
    (AddsADimension, {"shapes"}, {"noise_forms", "unit_power", "noise_calibration", "independence"}),
    (AcceptsAnything, {"input_validation"}, set()),
    (ModifiesItsInput, {"shapes"}, set()),
    (NoisyGainEstimate, {"noise_calibration"}, set()),  # with the default perfect_csi=True
]

SMALL = {"batch": 32, "num_symbols": 1024}


@pytest.mark.parametrize(("model", "must_fail", "may_fail"), BROKEN, ids=[b[0].__name__ for b in BROKEN])
def test_the_kit_catches_a_broken_model_for_the_right_reason(model, must_fail, may_fail):
    report = check_channel_model(model, raise_on_failure=False, **SMALL)
    failed = {r.name for r in report.failures}
    assert must_fail <= failed and failed <= must_fail | may_fail, str(report)


def test_a_failure_raises_an_assertion_error_listing_the_failed_checks():
    with pytest.raises(AssertionError) as info:
        check_channel_model(WrongPower, dtypes=(torch.complex64,), **SMALL)
    message = str(info.value)
    assert message.startswith("WrongPower() failed 1 conformance check(s):")
    assert "unit_power [cpu, complex64]: E|h|^2 = 1.2" in message and "off by more than 0.5 dB" in message


def test_an_estimated_gain_passes_with_perfect_csi_false_if_no_covers_the_estimation_error():
    report = check_channel_model(NoisyGainEstimate, perfect_csi=False, **SMALL)
    assert report.passed and "skipped" in next(r.message for r in report.results if r.name == "unit_power")
    report = check_channel_model(EstimateWithoutErrorVariance, perfect_csi=False, raise_on_failure=False, **SMALL)
    assert {r.name for r in report.failures} == {"noise_calibration"}
    assert "E[|y - h x|^2 / returned no] at 10 dB = 1.1" in report.failures[0].message  # (0.1 + 0.01) / 0.1


def test_a_measurement_too_noisy_to_resolve_the_tolerance_fails_with_advice():
    params = {"speed_kmh": 0.0, "carrier_frequency_hz": 2e9, "symbol_rate": 1e4}  # one gain per row

    def slow():
        return build_channel("jakes", params)

    report = check_channel_model(slow, checks=["unit_power"], raise_on_failure=False, **SMALL)
    assert not report.passed and "too noisy to resolve 0.5 dB, use more symbols or rows" in report.failures[0].message


def test_a_model_instance_is_accepted_and_checks_can_be_selected():
    model = RayleighChannel()
    report = check_channel_model(model, checks=["shapes", "global_rng"], dtypes=(torch.complex128,), **SMALL)
    expected = [("shapes", "cpu, complex128"), ("global_rng", "cpu, complex128")]
    assert [(r.name, r.where) for r in report.results] == expected
    assert "E|h|^2" not in str(report) and "PASS shapes" in str(report)


def test_kit_usage_errors_are_clear():
    with pytest.raises(ValueError, match=r"unknown conformance checks \['power'\] \(known: shapes, "):
        check_channel_model(RayleighChannel, checks=["power"])
    with pytest.raises(TypeError, match="the factory returned dict, not a channels.base.ChannelModel"):
        check_channel_model(dict)
    with pytest.raises(ValueError, match=r"dtypes must be torch.complex64 or torch.complex128, got devices \['cpu'\]"):
        check_channel_model(RayleighChannel, dtypes=(torch.float32,))
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="device 'cuda' is not available"):
            check_channel_model(RayleighChannel, devices=("cuda",))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_built_in_models_follow_the_device_on_cuda():
    for name, case in [("rayleigh", {}), ("rician", {"k_factor": 3.0}), ("awgn", {}),
                       ("jakes", CONFORMANCE["jakes"][0]["params"])]:
        check_channel_model(lambda: build_channel(name, case), devices=("cpu", "cuda"),  # noqa: B023
                            checks=["shapes", "reproducibility", "global_rng"], **SMALL)
