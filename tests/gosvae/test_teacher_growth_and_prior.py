"""Growing ``urban-unet`` by residual blocks (function preserved) and the prior correction of a
class-weighted training (closed form, config round trip, applied by the trainer)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from gosvae.errors import UserError
from gosvae.teachers import UrbanUNet
from gosvae.teachers.urban_unet import load_grown_state
from gosvae.training.config import TeacherTrainingConfig
from gosvae.training.teacher import class_weights, materialize, prior_correction_bias, train_teacher


def _randomised_batch_norm(model: torch.nn.Module, seed: int) -> None:
    """Non-trivial running statistics and affine terms, so the comparison is not of a near-identity."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)


def test_grown_net_starts_as_the_function_of_the_base_net():
    torch.manual_seed(0)
    base = UrbanUNet(num_classes=5, widths=(4, 4, 8, 8))
    _randomised_batch_norm(base, 1)
    grown = UrbanUNet(
        num_classes=5, widths=(4, 4, 8, 8), encoder_res_blocks=(1, 0, 2, 1), decoder_res_blocks=(1, 1, 1),
        head_res_blocks=2,
    )
    left = load_grown_state(grown, base.state_dict())
    assert left and all(".refine." in k or k.startswith("head_refine.") or k.split(".")[1] in {"2", "3"} for k in left)
    assert any(k.startswith("head_refine.1.") for k in left)
    base.freeze(), grown.freeze()
    x = torch.rand(2, 3, 32, 64)
    torch.testing.assert_close(grown.logits(x), base.logits(x), rtol=0, atol=1e-5)
    # ... and the new blocks are trainable: a perturbed last BN scale changes the output
    grown.enc2[2][0].body[-1].weight.data.fill_(1.0)
    assert (grown.logits(x) - base.logits(x)).abs().max() > 1e-4


def test_head_blocks_survive_the_config_and_act_at_full_resolution():
    """``head_res_blocks`` is kept in the config (a rebuilt net computes the same scores), and a
    live head block changes the scores (it is in the forward path, after the fusion conv)."""
    torch.manual_seed(0)
    net = UrbanUNet(num_classes=3, widths=(4, 4, 8, 8), head_res_blocks=1)
    _randomised_batch_norm(net, 2)
    net.freeze()
    x = torch.rand(1, 3, 32, 32)
    identity_block = net.logits(x)
    net.head_refine[0].body[-1].weight.data.fill_(1.0)
    assert (net.logits(x) - identity_block).abs().max() > 1e-4
    assert net.config["head_res_blocks"] == 1
    rebuilt = UrbanUNet.from_config(net.config)
    rebuilt.load_state_dict(net.state_dict())
    rebuilt.freeze()
    torch.testing.assert_close(rebuilt.logits(x), net.logits(x), rtol=0, atol=1e-6)
    base = UrbanUNet(num_classes=3, widths=(4, 4, 8, 8))
    assert base.config["head_res_blocks"] == 0 and len(base.head_refine) == 0


def test_growing_refuses_weights_of_another_width_or_extra_keys():
    base = UrbanUNet(num_classes=5, widths=(4, 4, 8, 8))
    wider = UrbanUNet(num_classes=5, widths=(4, 4, 8, 16), encoder_res_blocks=(0, 0, 0, 1))
    with pytest.raises(UserError, match="init_from: weights do not fit the architecture"):
        load_grown_state(wider, base.state_dict())
    deeper = UrbanUNet(num_classes=5, widths=(4, 4, 8, 8), encoder_res_blocks=(0, 0, 0, 1))
    with pytest.raises(UserError, match=r"enc3\.3\.0"):
        load_grown_state(base, deeper.state_dict())  # a shallower net cannot take a deeper net's keys


def test_prior_correction_bias_closed_form():
    w = torch.tensor([0.5, 2.0, 0.0, 1.0])
    torch.testing.assert_close(prior_correction_bias(w), torch.tensor([math.log(2), -math.log(2), 0.0, 0.0]))


def test_prior_correction_recovers_the_unweighted_posterior():
    """The optimum of weighted cross-entropy is softmax(log p + log w); adding -log w gives p back."""
    p = torch.tensor([0.7, 0.2, 0.1])
    w = torch.tensor([0.5, 1.0, 3.0])
    logits = torch.zeros(3, requires_grad=True)
    optimizer = torch.optim.LBFGS([logits], max_iter=200, tolerance_grad=1e-12, tolerance_change=1e-14)

    def closure():
        optimizer.zero_grad()
        loss = -(p * w * F.log_softmax(logits, 0)).sum()  # expected weighted CE over labels ~ p
        loss.backward()
        return loss

    optimizer.step(closure)
    corrected = torch.softmax(logits.detach() + prior_correction_bias(w), 0)
    torch.testing.assert_close(corrected, p, atol=1e-4, rtol=0)


def test_logit_bias_shifts_scores_and_survives_the_config():
    torch.manual_seed(0)
    teacher = UrbanUNet(num_classes=3, widths=(4, 4, 8, 8)).freeze()
    x = torch.rand(1, 3, 32, 32)
    before = teacher.logits(x)
    teacher.set_logit_bias(torch.tensor([1.0, -2.0, 0.5]))
    torch.testing.assert_close(teacher.logits(x) - before, torch.tensor([1.0, -2.0, 0.5]).view(1, 3, 1, 1).expand_as(before))
    rebuilt = UrbanUNet.from_config(teacher.config)
    rebuilt.load_state_dict(teacher.state_dict())
    torch.testing.assert_close(rebuilt.freeze().logits(x), teacher.logits(x))
    with pytest.raises(UserError, match="logit_bias needs 3 entries, got 2"):
        UrbanUNet(num_classes=3, logit_bias=[0.0, 1.0])


def test_trainer_stores_minus_log_class_weights_with_prior_correction(tmp_path, monkeypatch, tiny_teacher_training):
    import gosvae.zoo as zoo

    monkeypatch.setattr(zoo, "ZOO_DIR", tmp_path / "zoo")
    config = TeacherTrainingConfig.model_validate(
        tiny_teacher_training(loss={"class_weighting": "sqrt-inverse", "prior_correction": True}, num_train=3)
    )
    train_teacher(config, config_path="tiny.yaml", command="c", export_zoo=True)
    data, _ = materialize(config.data.train, cache_dir=config.data.cache_dir, desc="t")
    weights = class_weights(data.labels, num_classes=19)
    expected = [0.0 if w == 0 else -math.log(w) for w in weights.tolist()]  # by hand, not via the helper
    stored = zoo.get_entry("tiny").arch_config["logit_bias"]
    assert stored == pytest.approx(expected, abs=1e-5) and any(abs(b) > 0.1 for b in stored)
    # the saved checkpoint (used by --resume) is the uncorrected net: the bias is config, not a weight
    assert "logit_bias" not in torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)["model"]
