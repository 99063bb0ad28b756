"""``run.channels_last`` of teacher training: the net runs on NHWC batches and learns the same."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError

from gosvae.training.config import TeacherTrainingConfig


def _train(tiny_teacher_training, tmp_path, *, channels_last: bool) -> dict[str, torch.Tensor]:
    """Train the tiny config for two steps; returns the final weights (from the run's checkpoint)."""
    import gosvae.training.teacher as teacher_training

    raw = tiny_teacher_training(loss={"class_weighting": "none"})
    raw["run"]["out_dir"] = str(tmp_path / f"run-{channels_last}")
    raw["run"]["channels_last"] = channels_last
    config = TeacherTrainingConfig.model_validate(raw)
    teacher_training.train_teacher(config, config_path="tiny.yaml", command="c")
    checkpoint = torch.load(tmp_path / f"run-{channels_last}" / "checkpoint.pt", weights_only=True)
    return checkpoint["model"]


def test_channels_last_training_feeds_nhwc_batches_and_matches_the_default(monkeypatch, tmp_path, tiny_teacher_training):
    from gosvae.teachers import UrbanUNet

    seen: list[bool] = []
    real_logits = UrbanUNet.single_view_logits  # what the trainer calls

    def recording_logits(self, x):
        if self.training:
            seen.append(x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous())
        return real_logits(self, x)

    monkeypatch.setattr(UrbanUNet, "single_view_logits", recording_logits)
    nchw = _train(tiny_teacher_training, tmp_path, channels_last=False)
    assert seen == [False, False]  # two training steps, default layout
    seen.clear()
    nhwc = _train(tiny_teacher_training, tmp_path, channels_last=True)
    assert seen == [True, True]
    assert nchw.keys() == nhwc.keys()
    for key in nchw:
        torch.testing.assert_close(nhwc[key], nchw[key], atol=1e-4, rtol=1e-4, msg=key)
    assert any(not torch.equal(nchw[k], torch.zeros_like(nchw[k])) for k in nchw)


def test_channels_last_is_a_boolean(tiny_teacher_training):
    raw = tiny_teacher_training(loss={})
    raw["run"]["channels_last"] = "sometimes"
    with pytest.raises(ValidationError, match="channels_last"):
        TeacherTrainingConfig.model_validate(raw)
