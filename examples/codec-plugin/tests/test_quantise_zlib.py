"""The quantise-zlib plug-in: the simulator's codec conformance kit, exact quantisation, concealment
of lost bands, and the entry-point registration.

Run from this folder: ``python -m pytest tests`` (the entry-point tests need the package
installed, ``pip install -e .``, and are skipped otherwise).
"""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path

import pytest
import torch

from gosvae.codecs.testing import CHECKS, check_codec
from gosvae.errors import ConfigError
from gosvae_zlib_codec import QuantiseZlibCodec

INSTALLED = any(ep.name == "quantise-zlib" for ep in entry_points(group="gosvae.codecs"))
needs_install = pytest.mark.skipif(not INSTALLED, reason="not installed: pip install -e examples/codec-plugin")


def _images(batch: int = 2, height: int = 40, width: int = 24) -> torch.Tensor:
    return torch.rand(batch, 3, height, width, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("levels, rows, floor", [(256, 8, 45.0), (16, 16, 25.0), (2, 40, 4.0)])
def test_passes_the_codec_conformance_kit(levels, rows, floor):
    factory = lambda: QuantiseZlibCodec(levels=levels, rows_per_packet=rows)  # noqa: E731
    assert check_codec(factory, images=_images(), min_psnr_db=floor) == list(CHECKS)


def test_clean_decode_is_the_uniform_quantiser_and_payload_counts_every_byte():
    images = _images()
    codec = QuantiseZlibCodec(levels=5, rows_per_packet=16)
    streams = codec.encode(images)
    assert [len(s.packets) for s in streams] == [3, 3]  # ceil(40 / 16) bands
    out = codec.decode([s.packets for s in streams], image_size=(40, 24))
    torch.testing.assert_close(out.images, (images * 4).round() / 4, atol=1e-6, rtol=0)
    assert out.concealed_fraction == [0.0, 0.0] and out.failed == [False, False]


def test_a_lost_band_repeats_the_row_above_and_all_lost_is_a_failure():
    images = _images(1)
    codec = QuantiseZlibCodec(levels=256, rows_per_packet=16)
    packets = codec.encode(images)[0].packets
    out = codec.decode([[packets[0], None, packets[2]], [None, None, None]], image_size=(40, 24))
    assert out.concealed_fraction == [pytest.approx(1 / 3), 1.0] and out.failed == [False, True]
    assert torch.equal(out.images[0, :, 16:32], out.images[0, :, 15:16].expand(3, 16, 24))
    assert torch.equal(out.images[1], torch.full((3, 40, 24), 0.5))


def test_bad_parameters_give_one_line_errors_naming_the_field():
    with pytest.raises(ConfigError, match=r"^QuantiseZlibCodec.levels: .*got 1$"):
        QuantiseZlibCodec(levels=1)


@needs_install
def test_installed_package_registers_the_codec_through_the_entry_point():
    from gosvae.codecs import CODECS, build_codec

    entry = next(e for e in CODECS.entries() if e.name == "quantise-zlib")
    assert entry.obj is QuantiseZlibCodec and entry.origin == "plugin gosvae-zlib-codec"
    assert isinstance(build_codec("quantise-zlib", levels=8), QuantiseZlibCodec)
    with pytest.raises(ConfigError, match=r"^codec.params.levels: "):
        build_codec("quantise-zlib", {"levels": 300})


@needs_install
def test_the_example_scenario_validates():
    from simulation.scenario import load_scenario

    loaded = load_scenario(Path(__file__).parents[1] / "scenarios" / "quantise_zlib.yaml", check_models=False)
    assert [c.codec for c in loaded.scenario.codecs] == ["quantise-zlib", "vqvae"]
    assert [p.key for p in loaded.points][:2] == ["codec=quantise-zlib-8;snr_db=0", "codec=quantise-zlib-8;snr_db=6"]
