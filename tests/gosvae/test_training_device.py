"""``run.device`` / ``gosvae train --device``: validation here, and a short GPU run where one exists."""

from __future__ import annotations

import pytest
import torch

from gosvae.cli import main
from gosvae.errors import UserError
from gosvae.models.quantizer import VectorQuantizer
from gosvae.training.device import resolve_device


def test_resolve_device_accepts_cpu_and_rejects_malformed_names():
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(UserError, match=r"run.device: expected 'cpu', 'cuda' or 'cuda:N', got 'gpu'"):
        resolve_device("gpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message of a machine without CUDA")
def test_cuda_on_a_cpu_machine_is_a_one_line_error():
    with pytest.raises(UserError, match=r"run.device: 'cuda' asked for, but this torch build sees no CUDA GPU"):
        resolve_device("cuda")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message of a machine without CUDA")
def test_gosvae_train_device_flag_reaches_the_config(tmp_path, capsys):
    config = tmp_path / "t.yaml"
    config.write_text(
        "task: teacher\nname: t\narch: urban-unet\narch_config: {num_classes: 19, widths: [4, 4, 8, 8]}\n"
        "data: {train: {num_images: 2, size: [32, 64]}, val: {split: val, num_images: 1, size: [32, 64]}, "
        f"cache_dir: {tmp_path / 'cache'}}}\noptim: {{steps: 1}}\nrun: {{out_dir: {tmp_path / 'run'}}}\n"
    )
    assert main(["train", str(config), "--device", "cuda"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "run.device: 'cuda' asked for" in err[0]


def test_dead_code_restart_draws_from_a_cpu_generator_for_any_sample_device():
    """The same draw as before on the CPU; the generator's device decides where it is made."""
    q = VectorQuantizer(codebook_size=8, embedding_dim=2)
    q.usage_counts.zero_()
    q.usage_counts[:5] = 10  # codes 5, 6, 7 are dead
    z = torch.arange(40, dtype=torch.float32).reshape(20, 2)
    dead = q.restart_dead_codes(z, generator=torch.Generator().manual_seed(3), threshold=1.0)
    expected = torch.randperm(20, generator=torch.Generator().manual_seed(3))[:3]
    assert dead.tolist() == [5, 6, 7]
    torch.testing.assert_close(q.codebook[5:].detach(), z[expected])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_tiny_teacher_trains_on_cuda(tmp_path):
    from gosvae.training.config import TeacherTrainingConfig
    from gosvae.training.teacher import train_teacher

    config = TeacherTrainingConfig.model_validate(
        {
            "task": "teacher", "name": "t", "arch": "urban-unet",
            "arch_config": {"num_classes": 19, "widths": [8, 8, 16, 16], "encoder_res_blocks": [0, 0, 1, 1]},
            "data": {"train": {"num_images": 4, "size": [64, 128]}, "val": {"split": "val", "num_images": 2, "size": [64, 128]},
                     "crop": [32, 64], "cache_dir": str(tmp_path / "cache")},
            "optim": {"steps": 6, "batch_size": 2, "lr": 0.01, "warmup_steps": 0},
            "loss": {"prior_correction": True},
            "run": {"out_dir": str(tmp_path / "run"), "device": "cuda", "log_every": 3, "checkpoint_every": 3},
        }
    )
    result = train_teacher(config, config_path="t.yaml", command="c")
    assert 0.0 <= result["miou"] <= 1.0
    config.optim.steps = 9
    train_teacher(config, config_path="t.yaml", command="c", resume=True)  # resumes a GPU checkpoint
