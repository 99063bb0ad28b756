"""Tiny random models and scenarios for tests and quick trials of ``simulate`` (no training needed).

:func:`write_tiny_zoo` saves a tiny random teacher (``urban-unet`` with 4-channel stages and an
int8 calibration) and tiny random VQ-VAE codecs as zoo entries in a folder; put that folder in
``GOSVAE_ZOO_PATH`` and scenarios can name them. Their scores mean nothing, but every stage of the pipeline runs for real.

Example
-------
>>> import os, tempfile
>>> folder = tempfile.mkdtemp()
>>> names = write_tiny_zoo(folder)
>>> os.environ["GOSVAE_ZOO_PATH"] = folder
>>> scenario = tiny_scenario(codecs=[{"name": names["codecs"][0]}], snr_db=[0, 30])
>>> # write it with yaml.safe_dump and run `simulate FILE --out DIR`
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import torch

__all__ = ["tiny_scenario", "tiny_urban_unet", "write_tiny_zoo"]

TINY_TEACHER = "tiny-teacher"
TINY_CODECS = ("tiny-codec-r4", "tiny-codec-r8")


def write_tiny_zoo(directory: str | Path, *, seed: int = 0) -> dict[str, Any]:
    """Write a tiny teacher and two tiny codecs (ratios 4 and 8) into ``directory``.

    The codecs get a non-uniform index prior (Laplace-smoothed counts of a geometric-like law), so
    range-coded packets have realistic, varying sizes.

    Output: ``{"teacher": name, "codecs": [names]}``.
    """
    with torch.random.fork_rng(devices=[]):  # seeded weights, global RNG left as it was
        torch.manual_seed(seed)
        return _write(Path(directory))


def _write(directory: Path) -> dict[str, Any]:
    from gosvae.datasets import build_dataset
    from gosvae.zoo import save_zoo_entry

    common = {"config": "(tiny random model for tests)", "command": "simulation.testing.write_tiny_zoo",
              "data": {}, "steps": 0, "quality": {}}
    from gosvae.teachers.quantized import ZOO_FIELD, calibrate_int8

    teacher = colour_teacher()
    calibration = build_dataset(name="synthetic-urban", split="train", num_images=2, size=(32, 64))
    images = torch.stack([calibration[i][0] for i in range(len(calibration))])
    int8 = calibrate_int8(teacher, [images], data={"dataset": "synthetic-urban/train", "num_images": 2, "size": [32, 64]})
    save_zoo_entry(
        state_dict=teacher.state_dict(),
        metadata={"name": TINY_TEACHER, "kind": "teacher", "arch": "urban-unet", "arch_config": teacher.config, **common,
                  ZOO_FIELD: int8.to_json()},
        directory=directory,
    )
    for name in TINY_CODECS:
        model = tiny_codec_model(ratio=int(name.rsplit("-r", 1)[1]), calibration=images)
        save_zoo_entry(
            state_dict=model.state_dict(),
            metadata={"name": name, "kind": "codec", "arch": "vqvae", "arch_config": model.config, **common},
            directory=directory,
        )
    return {"teacher": TINY_TEACHER, "codecs": list(TINY_CODECS)}


def tiny_urban_unet(*, flip: bool, seed: int = 0, widths: Sequence[int] = (4, 6, 8, 8),
                    statistics_images: torch.Tensor | None = None) -> torch.nn.Module:
    """A tiny frozen urban-unet (5 classes) with residual blocks everywhere, a logit bias and
    non-trivial batch norms: random scales and shifts, running statistics of ``statistics_images``
    (default: 4 random 32x48 images), so that folding them into the convolutions is tested."""
    from gosvae.teachers import UrbanUNet

    torch.manual_seed(seed)
    net = UrbanUNet(num_classes=5, widths=tuple(widths), encoder_res_blocks=(1, 0, 1, 1), decoder_res_blocks=(1, 0, 1),
                    head_res_blocks=2, logit_bias=[0.3, -0.2, 0.0, 0.1, -0.4], test_time_flip=flip)
    g = torch.Generator().manual_seed(seed + 1)
    norms = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for m in norms:
        m.weight.data = torch.rand(m.num_features, generator=g) + 0.5  # the residual blocks' last BN starts at 0
        m.bias.data = torch.randn(m.num_features, generator=g) * 0.3
        m.momentum, m.training = None, True  # running statistics = those of the batch below
    with torch.no_grad():
        net.single_view_logits(torch.rand(4, 3, 32, 48, generator=g) if statistics_images is None else statistics_images)
    for m in norms:
        m.training = False
    return net.freeze()


@torch.no_grad()
def colour_teacher() -> torch.nn.Module:
    """An ``urban-unet`` (4-channel stages) wired by hand to label pixels by colour.

    Its head sees R, G, B and darkness; dark pixels become road, grey ones building, green ones
    vegetation, blue ones sky and red ones car. Not a real segmenter, but its labels follow the
    image, so damaged reconstructions change its output.
    """
    from gosvae.teachers import UrbanUNet

    teacher = UrbanUNet(num_classes=19, widths=(4, 4, 4, 4)).freeze()
    conv, norm = teacher.head[0][0], teacher.head[0][1]
    conv.weight.zero_()
    for channel in range(3):  # the head's input is [decoder features (4), image (3)]
        conv.weight[channel, 4 + channel, 1, 1] = 1.0
    conv.weight[3, 4:7, 1, 1] = -1.0 / 3.0
    norm.bias.copy_(torch.tensor([0.0, 0.0, 0.0, 1.0]))
    final = teacher.head[1]
    final.weight.zero_()
    final.bias.fill_(-20.0)
    weights = {0: [0, 0, 0, 1.2], 2: [0.35, 0.35, 0.35, 0], 8: [0, 1, 0, 0], 10: [0, 0, 1, 0], 13: [1, 0, 0, 0]}
    for cls, row in weights.items():
        final.weight[cls, :, 0, 0] = 20.0 * torch.tensor(row)
        final.bias[cls] = 0.0
    return teacher


@torch.no_grad()
def tiny_codec_model(*, ratio: int, calibration: torch.Tensor) -> torch.nn.Module:
    """A tiny random VQ-VAE (K=16, D=4) whose codebook is spread over the encoder outputs of
    ``calibration`` images and whose index prior is their (smoothed) index counts."""
    from gosvae.models import VQVAE

    stages = {2: 1, 4: 2, 8: 3, 16: 4}[ratio]
    model = VQVAE.from_config({
        "arch": "shallow", "ratio": ratio, "codebook_size": 16, "embedding_dim": 4,
        "encoder_channels": [6] * stages, "decoder_channels": [6] * stages,
    }).eval()
    z = model.encoder(calibration).permute(0, 2, 3, 1).reshape(-1, 4)
    order = torch.argsort(z[:, 0] + 0.5 * z[:, 1])
    model.quantizer.codebook.copy_(z[order[torch.linspace(0, len(order) - 1, 16).long()]])
    for parameter in model.decoder.parameters():  # more contrast in the reconstructions
        parameter.mul_(6.0)
    model.quantizer.set_index_prior(torch.bincount(model.encode(calibration).flatten(), minlength=16))
    return model


def tiny_scenario(
    *,
    name: str = "tiny",
    codecs: Sequence[dict[str, Any]] = ({"name": TINY_CODECS[0], "rows_per_slice": 2},),
    snr_db: Any = (-5, 30),
    num_images: int = 2,
    size: Sequence[int] = (32, 64),
    link: dict[str, Any] | None = None,
    channel: dict[str, Any] | None = None,
    sweep: dict[str, Any] | None = None,
    seed: int = 7,
) -> dict[str, Any]:
    """A scenario dict for the tiny zoo: 2 images of 32x64, LDPC 1/2, QPSK, AWGN, two SNR points."""
    return {
        "name": name,
        "seed": seed,
        "dataset": {"name": "synthetic-urban", "split": "val", "num_images": num_images, "size": list(size)},
        "teacher": TINY_TEACHER,
        "codecs": [dict(c) for c in codecs],
        "link": link if link is not None else {"crc": "CRC24A", "code": "ldpc", "rate": 0.5, "modulation": "qpsk"},
        "channel": channel if channel is not None else {"model": "awgn"},
        "sweep": {"snr_db": list(snr_db) if isinstance(snr_db, (list, tuple)) else snr_db, **(sweep or {})},
    }
