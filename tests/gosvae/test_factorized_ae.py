"""The Ballé 2017 factorized autoencoder: GDN, density, quantisation, entropy coding, codec, training."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from gosvae.codecs import build_codec
from gosvae.codecs.factorized_ae import FactorizedAECodec, decode_latent_slice, encode_latent_slice
from gosvae.codecs.testing import check_codec
from gosvae.models.factorized_ae import FactorizedAE, rate_distortion_loss
from gosvae.models.gdn import GDN
from gosvae.source_coding.header import HEADER_SIZE
from gosvae.training.factorized_ae import FactorizedAETrainingConfig, train_factorized_ae
from gosvae.yaml_config import read_yaml, validate_model

ROOT = Path(__file__).resolve().parents[2]


def _tiny_model(seed: int = 0, *, latent_channels: int = 6) -> FactorizedAE:
    torch.manual_seed(seed)
    model = FactorizedAE(channels=8, latent_channels=latent_channels, ratio=4)
    with torch.no_grad():  # a non-trivial density: random shapes and scales per channel
        for p in model.density.parameters():
            p.add_(0.3 * torch.randn(p.shape))
    return model.eval()


def test_gdn_and_igdn_match_a_hand_computation():
    gdn, igdn = GDN(2), GDN(2, inverse=True)
    beta, gamma = torch.tensor([1.0, 0.5]), torch.tensor([[0.1, 0.2], [0.3, 0.4]])
    for module in (gdn, igdn):
        module.set_parameters(beta=beta, gamma=gamma)
        torch.testing.assert_close(module.beta, beta)
        torch.testing.assert_close(module.gamma, gamma)
    x = torch.tensor([1.0, 2.0]).view(1, 2, 1, 1).expand(1, 2, 2, 3).contiguous()
    norm0, norm1 = math.sqrt(1.0 + 0.1 * 1 + 0.2 * 4), math.sqrt(0.5 + 0.3 * 1 + 0.4 * 4)
    y = gdn(x)
    torch.testing.assert_close(y[0, 0], torch.full((2, 3), 1.0 / norm0))
    torch.testing.assert_close(y[0, 1], torch.full((2, 3), 2.0 / norm1))
    z = igdn(x)
    torch.testing.assert_close(z[0, 0], torch.full((2, 3), 1.0 * norm0))
    torch.testing.assert_close(z[0, 1], torch.full((2, 3), 2.0 * norm1))


def test_density_sums_to_one_over_the_integers_and_bits_are_minus_log2():
    density = _tiny_model().density
    grid = torch.arange(-400, 401, dtype=torch.float32).expand(density.channels, 1, -1)
    with torch.no_grad():
        masses = density.bin_probabilities(grid)[:, 0].double()
    torch.testing.assert_close(masses.sum(dim=1), torch.ones(density.channels, dtype=torch.float64), atol=1e-5, rtol=0)
    # the coding tables hold the same masses (inside the support) and each sums to 1
    low, pmf = density.integer_tables()
    torch.testing.assert_close(pmf.sum(dim=1), torch.ones(density.channels, dtype=torch.float64))
    y = torch.round(torch.randn(2, density.channels, 3, 4) * 3)
    with torch.no_grad():
        likelihood = density(y)
        output_bits = -torch.log2(likelihood).sum()
    table_p = torch.stack([pmf[c, (y[:, c] - low[c]).long()] for c in range(density.channels)], dim=1)
    torch.testing.assert_close(likelihood.double(), table_p, rtol=2e-4, atol=1e-9)
    torch.testing.assert_close(output_bits.double(), -torch.log2(table_p).sum(), rtol=1e-4, atol=1e-3)


def test_rounding_at_test_time_and_uniform_noise_in_training():
    model = _tiny_model()
    y = model.analysis(torch.rand(2, 3, 16, 16)).detach()
    assert torch.equal(FactorizedAE.quantize(y), torch.round(y))
    noisy = FactorizedAE.quantize(y, noise=True, generator=torch.Generator().manual_seed(1))
    again = FactorizedAE.quantize(y, noise=True, generator=torch.Generator().manual_seed(1))
    assert torch.equal(noisy, again)
    delta = noisy - y
    assert float(delta.abs().max()) <= 0.5 and float(delta.std()) > 0.2 and abs(float(delta.mean())) < 0.1
    assert not torch.equal(noisy, torch.round(noisy))
    out = model(torch.rand(1, 3, 16, 16))  # eval mode: rounded
    assert torch.equal(out.y_hat, torch.round(out.y_hat))
    model.train()
    out = model(torch.rand(1, 3, 16, 16), generator=torch.Generator().manual_seed(0))
    assert not torch.equal(out.y_hat, torch.round(out.y_hat))


def test_slice_round_trip_is_lossless_and_payload_matches_the_estimated_bits():
    model = _tiny_model(latent_channels=8)
    codec = FactorizedAECodec(model, name="tiny", rows_per_slice=16)
    images = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    q = codec.encode_latents(images)[0]  # (8, 16, 16)
    tables = codec.tables
    symbols = q - tables.low[:, None, None]
    payload = encode_latent_slice(symbols, tables)
    np.testing.assert_array_equal(decode_latent_slice(payload, tables, rows=16, width=16), symbols)
    with torch.no_grad():
        estimated = float(-torch.log2(model.density(torch.from_numpy(q[None]).float())).sum())
    assert estimated > 2000
    assert abs(8 * len(payload) - estimated) <= 0.03 * estimated + 64
    packets = codec.encode(images)[0].packets
    assert len(packets) == 1 and len(packets[0]) == HEADER_SIZE + len(payload)
    latent, received = codec.decode_one(packets, shape=(16, 16))
    np.testing.assert_array_equal(latent, q)
    assert received.all()
    # damaged payloads are rejected (not the canonical encoding of what they decode to), never raised on
    assert decode_latent_slice(payload[:-3], tables, rows=16, width=16) is None
    assert decode_latent_slice(payload + b"\x01", tables, rows=16, width=16) is None


def test_a_lost_packet_loses_only_its_rows_which_get_the_channel_mode():
    model = _tiny_model()
    codec = FactorizedAECodec(model, name="tiny", rows_per_slice=2)
    images = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    q = codec.encode_latents(images)[0]
    packets = codec.encode(images)[0].packets
    assert len(packets) == 4
    latent, received = codec.decode_one([packets[0], None, packets[2], packets[3]], shape=(8, 8))
    assert received.tolist() == [True, True, False, False, True, True, True, True]
    np.testing.assert_array_equal(latent[:, [0, 1, 4, 5, 6, 7]], q[:, [0, 1, 4, 5, 6, 7]])
    np.testing.assert_array_equal(latent[:, 2:4], np.broadcast_to(codec.tables.mode[:, None, None], (6, 2, 8)))
    out = codec.decode([[packets[0], None, packets[2], packets[3]], [None] * 4], image_size=(32, 32))
    assert out.images.shape == (2, 3, 32, 32) and out.concealed_fraction == [0.25, 1.0] and out.failed == [False, True]


def test_conformance_kit_passes_on_a_tiny_random_codec():
    model = _tiny_model()
    images = torch.rand(2, 3, 32, 48, generator=torch.Generator().manual_seed(0))
    assert len(check_codec(lambda: FactorizedAECodec(model, name="tiny", rows_per_slice=3), images=images)) == 7


def test_a_few_steps_lower_the_rate_distortion_loss():
    torch.manual_seed(0)
    model = FactorizedAE(channels=8, latent_channels=8, ratio=4).train()
    x = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    generator = torch.Generator().manual_seed(0)
    totals = []
    for _ in range(25):
        losses = rate_distortion_loss(x, model(x, generator=generator), lmbda=0.01)
        optimizer.zero_grad()
        losses["total"].backward()
        optimizer.step()
        totals.append(float(losses["total"].detach()))
    assert set(losses) == {"mse", "bpp", "total"}
    assert totals[-1] < 0.7 * totals[0]


def test_tiny_training_exports_an_entry_the_codec_loads_by_folder(tmp_path, tiny_zoo):
    config = FactorizedAETrainingConfig.model_validate({
        "task": "codec", "name": "tiny-fae", "teacher": "tiny-teacher",
        "model": {"arch": "factorized-ae", "channels": 8, "latent_channels": 8, "ratio": 4},
        "objective": {"lmbda": 0.01},
        "source_coding": {"rows_per_slice": 3},
        "data": {"train": {"name": "synthetic-urban", "split": "train", "num_images": 4, "size": [32, 64]},
                 "val": {"name": "synthetic-urban", "split": "val", "num_images": 2, "size": [32, 64]},
                 "crop": [32, 64], "cache_dir": str(tmp_path / "cache")},
        "optim": {"steps": 20, "batch_size": 4, "lr": 0.01, "warmup_steps": 0, "schedule": "constant"},
        "run": {"out_dir": str(tmp_path / "run"), "num_threads": 1, "log_every": 5, "checkpoint_every": 10},
    })
    export = tmp_path / "export"
    row = train_factorized_ae(config, config_path="tiny.yaml", command="gosvae train tiny.yaml", export_zoo=True, zoo_dir=export)
    log = (tmp_path / "run" / "log.csv").read_text().splitlines()
    header = log[0].split(",")
    totals = [float(r.split(",")[header.index("total")]) for r in log[1:]]
    assert {"mse", "bpp"} <= set(header) and len(totals) == 4 and totals[-1] < totals[0]

    codec = build_codec("factorized-ae", model=str(export), rows_per_slice=3)
    assert codec.describe()["scheme"] == "Factorized AE (Ballé 2017)" and codec.size_multiple() == 4
    assert codec.entry.quality["payload_kb"] == pytest.approx(row["payload_kb"])
    images = torch.rand(2, 3, 32, 64, generator=torch.Generator().manual_seed(0))
    streams = codec.encode(images)
    out = codec.decode([s.packets for s in streams], image_size=(32, 64))
    assert out.images.shape == (2, 3, 32, 64) and out.concealed_fraction == [0.0, 0.0]
    # the exported weights are the evaluated ones: the in-memory final model codes the same packets
    state = torch.load(tmp_path / "run" / "final_model.pt", weights_only=True)["model"]
    memory = FactorizedAE.from_config(codec.entry.arch_config)
    memory.load_state_dict(state)
    assert [s.packets for s in FactorizedAECodec(memory, name="tiny-fae", rows_per_slice=3).encode(images)] == [s.packets for s in streams]
    with pytest.raises(Exception, match="not a factorized-ae"):
        build_codec("factorized-ae", model="tiny-codec")  # a vqvae entry of the tiny zoo


@pytest.mark.parametrize("level", ["low", "mid", "high"])
def test_committed_configs_validate_and_build(level):
    path = ROOT / "configs" / "codecs" / "baselines" / f"factorized_ae_synthetic_l{level}.yaml"
    config = validate_model(read_yaml(path), FactorizedAETrainingConfig, source=str(path))
    model = FactorizedAE.from_config(config.model.model_dump())
    assert model.ratio == 16 and config.data.crop[0] % 16 == 0 and config.data.crop[1] % 16 == 0
