"""Tests of gosvae.metrics against independent computations (numpy loops, scipy) and closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats
from scipy.spatial.distance import jensenshannon

from gosvae.errors import UserError
from gosvae.metrics import (
    SegmentationMeter,
    confusion_matrix,
    cross_entropy,
    cross_entropy_from_logits,
    iou_per_class,
    js_divergence,
    js_divergence_from_logits,
    kl_divergence,
    kl_divergence_from_logits,
    mean_confidence_interval,
    mean_iou,
    mse,
    pixel_accuracy,
    psnr,
)

IGNORE = 255


# ----------------------------------------------------------------------------------------------
# independent references


def _random_label_maps(seed: int, *, shape=(3, 6, 7), num_classes=5, ignore_fraction=0.2):
    rng = np.random.default_rng(seed)
    pred = rng.integers(0, num_classes, size=shape)
    target = rng.integers(0, num_classes, size=shape)
    target[rng.random(shape) < ignore_fraction] = IGNORE
    return pred, target


def _confusion_by_loops(pred: np.ndarray, target: np.ndarray, num_classes: int) -> np.ndarray:
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    for p, t in zip(pred.ravel().tolist(), target.ravel().tolist()):
        if t != IGNORE:
            counts[t, p] += 1
    return counts


def _iou_by_sets(pred: np.ndarray, target: np.ndarray, num_classes: int) -> np.ndarray:
    """IoU from pixel sets (no confusion matrix), NaN where a class is in neither map."""
    labelled = target != IGNORE
    ious = np.full(num_classes, np.nan)
    for c in range(num_classes):
        intersection = np.sum((pred == c) & (target == c) & labelled)
        union = np.sum(((pred == c) | (target == c)) & labelled)
        if union > 0:
            ious[c] = intersection / union
    return ious


def _random_distributions(seed: int, shape=(2, 5, 3, 4)) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(seed)
    b, m, h, w = shape
    p = rng.dirichlet(np.ones(m), size=(b, h, w)).transpose(0, 3, 1, 2)
    q = rng.dirichlet(np.ones(m), size=(b, h, w)).transpose(0, 3, 1, 2)
    return torch.from_numpy(np.ascontiguousarray(p)), torch.from_numpy(np.ascontiguousarray(q))


def _one_hot_maps(classes: list[list[int]], num_classes: int) -> torch.Tensor:
    """(1, m, H, W) float64 one-hot distributions from an (H, W) list of class ids."""
    ids = torch.tensor(classes)
    return torch.nn.functional.one_hot(ids, num_classes).permute(2, 0, 1).unsqueeze(0).to(torch.float64)


# ----------------------------------------------------------------------------------------------
# segmentation


def test_confusion_matrix_matches_pixel_loop_and_skips_ignored_pixels():
    pred, target = _random_label_maps(0)
    got = confusion_matrix(torch.from_numpy(pred), torch.from_numpy(target), num_classes=5)
    assert got.dtype == torch.int64 and got.shape == (5, 5)
    np.testing.assert_array_equal(got.numpy(), _confusion_by_loops(pred, target, 5))
    assert int(got.sum()) == int(np.sum(target != IGNORE))


def test_confusion_matrix_rows_are_ground_truth():
    pred = torch.tensor([[1, 1, 1]])
    target = torch.tensor([[0, 0, 2]])
    expected = torch.tensor([[0, 2, 0], [0, 0, 0], [0, 1, 0]])
    assert torch.equal(confusion_matrix(pred, target, num_classes=3), expected)


def test_confusion_matrix_single_image_equals_batch_of_one_and_batches_add_up():
    pred, target = _random_label_maps(1)
    pred_t, target_t = torch.from_numpy(pred), torch.from_numpy(target).to(torch.uint8)
    per_image = [confusion_matrix(pred_t[i], target_t[i], num_classes=5) for i in range(3)]
    assert torch.equal(per_image[0], confusion_matrix(pred_t[:1], target_t[:1], num_classes=5))
    assert torch.equal(sum(per_image), confusion_matrix(pred_t, target_t, num_classes=5))


def test_confusion_matrix_ignore_index_none_counts_every_pixel():
    pred = torch.tensor([[0, 1], [1, 0]])
    target = torch.tensor([[0, 1], [0, 0]])
    got = confusion_matrix(pred, target, num_classes=2, ignore_index=None)
    assert torch.equal(got, torch.tensor([[2, 1], [0, 1]]))


def test_confusion_matrix_reports_label_ids_outside_the_classes():
    pred = torch.tensor([[0, 1], [1, 0]])
    with pytest.raises(UserError, match=r"target holds class id 7 .*\[0, 5\)"):
        confusion_matrix(pred, torch.tensor([[0, 7], [1, 0]]), num_classes=5)
    with pytest.raises(UserError, match="pred holds class id 255"):
        confusion_matrix(torch.tensor([[0, 255]]), torch.tensor([[0, 1]]), num_classes=5)
    # a prediction of any value at an ignored pixel is not looked at
    got = confusion_matrix(torch.tensor([[0, 255]]), torch.tensor([[0, 255]]), num_classes=5)
    assert int(got.sum()) == 1


def test_confusion_matrix_rejects_bad_shapes_and_dtypes():
    with pytest.raises(ValueError, match="same shape"):
        confusion_matrix(torch.zeros(2, 3, dtype=torch.long), torch.zeros(3, 2, dtype=torch.long), num_classes=2)
    with pytest.raises(TypeError, match="argmax"):
        confusion_matrix(torch.zeros(2, 3), torch.zeros(2, 3, dtype=torch.long), num_classes=2)
    with pytest.raises(ValueError, match=r"\(H, W\) or \(B, H, W\)"):
        confusion_matrix(torch.zeros(4, dtype=torch.long), torch.zeros(4, dtype=torch.long), num_classes=2)


def test_iou_and_mean_iou_leave_out_absent_classes_and_count_missed_ones():
    # class 0: 3 hits, 1 miss -> 3/4; class 1: 2 hits + 1 false alarm -> 2/3;
    # class 2: nowhere -> NaN, left out; class 3: in ground truth only -> 0, counted.
    confusion = torch.tensor([[3, 1, 0, 0], [0, 2, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]])
    confusion[3, 0] = 2  # two class-3 pixels predicted as class 0
    iou = iou_per_class(confusion)
    assert iou.dtype == torch.float64
    np.testing.assert_allclose(iou[[0, 1, 3]].numpy(), [3 / 6, 2 / 3, 0.0])
    assert math.isnan(iou[2])
    assert mean_iou(confusion) == pytest.approx((3 / 6 + 2 / 3 + 0.0) / 3)
    assert pixel_accuracy(confusion) == pytest.approx(5 / 8)


def test_iou_and_accuracy_match_pixel_sets_on_random_maps():
    pred, target = _random_label_maps(2, num_classes=6)
    pred[pred == 4] = 5  # class 4 never predicted ...
    target[target == 4] = IGNORE  # ... nor labelled: NaN
    confusion = confusion_matrix(torch.from_numpy(pred), torch.from_numpy(target), num_classes=6)
    reference = _iou_by_sets(pred, target, 6)
    np.testing.assert_allclose(iou_per_class(confusion).numpy(), reference, equal_nan=True)
    assert np.isnan(reference[4])
    assert mean_iou(confusion) == pytest.approx(np.nanmean(reference))
    labelled = target != IGNORE
    assert pixel_accuracy(confusion) == pytest.approx(np.mean(pred[labelled] == target[labelled]))


def test_scores_of_an_empty_confusion_matrix_are_nan():
    empty = torch.zeros(3, 3, dtype=torch.int64)
    assert math.isnan(mean_iou(empty)) and math.isnan(pixel_accuracy(empty))
    with pytest.raises(ValueError, match="square"):
        iou_per_class(torch.zeros(2, 3))


def test_meter_streams_batches_like_one_confusion_and_scores_each_image():
    pred, target = _random_label_maps(3, shape=(5, 8, 8), num_classes=4)
    target[2] = IGNORE  # an image without labelled pixels
    meter = SegmentationMeter(num_classes=4)
    for start, stop in ((0, 2), (2, 3), (3, 5)):
        meter.update(torch.from_numpy(pred[start:stop]), torch.from_numpy(target[start:stop]))
    meter.update(torch.from_numpy(pred[0]), torch.from_numpy(target[0]))  # a single (H, W) image

    all_pred, all_target = np.concatenate([pred, pred[:1]]), np.concatenate([target, target[:1]])
    np.testing.assert_array_equal(meter.confusion.numpy(), _confusion_by_loops(all_pred, all_target, 4))
    reference = _iou_by_sets(all_pred, all_target, 4)
    np.testing.assert_allclose(meter.per_class_iou().numpy(), reference, equal_nan=True)
    assert meter.mean_iou() == pytest.approx(np.nanmean(reference))
    labelled = all_target != IGNORE
    assert meter.pixel_accuracy() == pytest.approx(np.mean(all_pred[labelled] == all_target[labelled]))

    per_image = meter.per_image_miou
    assert len(per_image) == 6 and math.isnan(per_image[2])
    for i in (0, 1, 3, 4, 5):
        assert per_image[i] == pytest.approx(np.nanmean(_iou_by_sets(all_pred[i], all_target[i], 4)))


def test_meter_returns_copies_and_resets():
    meter = SegmentationMeter(num_classes=2)
    meter.update(torch.tensor([[0, 1]]), torch.tensor([[0, 1]]))
    meter.confusion.zero_()
    meter.per_image_miou.clear()
    assert int(meter.confusion.sum()) == 2 and meter.per_image_miou == [1.0]
    meter.reset()
    assert int(meter.confusion.sum()) == 0 and meter.per_image_miou == []
    untracked = SegmentationMeter(num_classes=2, track_per_image=False)
    untracked.update(torch.tensor([[0, 1]]), torch.tensor([[1, 1]]))
    assert untracked.per_image_miou == [] and untracked.mean_iou() == pytest.approx(0.25)


@pytest.mark.parametrize("level", [0.9, 0.95, 0.99])
def test_mean_confidence_interval_matches_scipy_t_interval(level):
    values = np.random.default_rng(4).normal(0.6, 0.05, size=17)
    mean, half_width = mean_confidence_interval(values.tolist(), level=level)
    low, high = stats.t.interval(level, len(values) - 1, loc=values.mean(), scale=stats.sem(values))
    assert mean == pytest.approx(values.mean())
    assert mean - half_width == pytest.approx(low) and mean + half_width == pytest.approx(high)
    assert mean_confidence_interval(torch.from_numpy(values), level=level) == pytest.approx((mean, half_width))


def test_mean_confidence_interval_edge_cases():
    assert mean_confidence_interval([0.5, 0.5, 0.5]) == (0.5, 0.0)
    mean, half_width = mean_confidence_interval([0.7])
    assert mean == 0.7 and math.isnan(half_width)
    with pytest.raises(ValueError, match="NaN"):
        mean_confidence_interval([0.1, float("nan"), 0.3])
    assert mean_confidence_interval([0.1, float("nan"), 0.3], nan_policy="omit") == pytest.approx(
        mean_confidence_interval([0.1, 0.3])
    )
    with pytest.raises(ValueError, match="level"):
        mean_confidence_interval([0.1, 0.2], level=95)
    with pytest.raises(ValueError, match="at least one"):
        mean_confidence_interval([])


# ----------------------------------------------------------------------------------------------
# image quality


def test_psnr_closed_forms_per_image():
    x = torch.rand(3, 3, 8, 8, generator=torch.Generator().manual_seed(5), dtype=torch.float64) * 0.8
    y = x.clone()
    y[0] += 0.1  # MSE 0.01  -> 20 dB
    y[1] -= 0.01  # MSE 1e-4 -> 40 dB
    got = psnr(x, y)
    assert got.shape == (3,) and got.dtype == torch.float64
    np.testing.assert_allclose(got[:2].numpy(), [20.0, 40.0], rtol=1e-9)
    assert got[2] == math.inf  # identical images
    np.testing.assert_allclose(psnr(x * 255, y * 255, data_range=255.0)[:2].numpy(), [20.0, 40.0], rtol=1e-9)


def test_mse_matches_numpy_and_psnr_follows_from_it():
    gen = torch.Generator().manual_seed(6)
    x, y = torch.rand(2, 3, 5, 7, generator=gen), torch.rand(2, 3, 5, 7, generator=gen)
    reference = ((x.numpy().astype(np.float64) - y.numpy()) ** 2).reshape(2, -1).mean(axis=1)
    np.testing.assert_allclose(mse(x, y).numpy(), reference, rtol=1e-5)
    np.testing.assert_allclose(psnr(x, y).numpy(), -10 * np.log10(reference), rtol=1e-5)


def test_image_quality_rejects_bad_inputs():
    with pytest.raises(ValueError, match="same shape"):
        psnr(torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 4, 5))
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        mse(torch.zeros(3, 4, 4), torch.zeros(3, 4, 4))
    with pytest.raises(ValueError, match="data_range"):
        psnr(torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 4, 4), data_range=0.0)


# ----------------------------------------------------------------------------------------------
# divergences


def test_kl_matches_scipy_entropy():
    p, q = _random_distributions(7)
    reference = stats.entropy(p.numpy(), q.numpy(), axis=1)  # (B, H, W), natural log
    np.testing.assert_allclose(kl_divergence(p, q, reduction="none").numpy(), reference, rtol=1e-10)
    assert float(kl_divergence(p, q)) == pytest.approx(reference.mean())
    assert float(kl_divergence(p, q, reduction="sum")) == pytest.approx(reference.sum())


def test_js_matches_scipy_jensenshannon_squared_and_is_symmetric_and_bounded():
    p, q = _random_distributions(8)
    reference = jensenshannon(p.numpy(), q.numpy(), axis=1) ** 2  # scipy gives sqrt(JS), base e
    got = js_divergence(p, q, reduction="none")
    np.testing.assert_allclose(got.numpy(), reference, rtol=1e-9)
    torch.testing.assert_close(got, js_divergence(q, p, reduction="none"))
    assert bool((got >= 0).all()) and bool((got <= math.log(2)).all())
    assert float(js_divergence(p, p)) == pytest.approx(0.0, abs=1e-12)
    disjoint_p, disjoint_q = _one_hot_maps([[0, 1]], 3), _one_hot_maps([[2, 0]], 3)
    np.testing.assert_allclose(js_divergence(disjoint_p, disjoint_q, reduction="none").numpy(), math.log(2))


def test_cross_entropy_matches_numpy_and_equals_entropy_plus_kl():
    p, q = _random_distributions(9)
    reference = -(p.numpy() * np.log(q.numpy())).sum(axis=1)
    got = cross_entropy(p, q, reduction="none")
    np.testing.assert_allclose(got.numpy(), reference, rtol=1e-10)
    np.testing.assert_allclose(
        got.numpy(), stats.entropy(p.numpy(), axis=1) + stats.entropy(p.numpy(), q.numpy(), axis=1), rtol=1e-10
    )
    # one-hot targets: the usual negative log-likelihood of the labelled class
    one_hot = _one_hot_maps([[1, 4, 0]], 5)
    soft = torch.softmax(torch.randn(1, 5, 1, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64), 1)
    nll = torch.nn.functional.nll_loss(soft.log(), torch.tensor([[[1, 4, 0]]]), reduction="none")
    torch.testing.assert_close(cross_entropy(one_hot, soft, reduction="none"), nll)


@pytest.mark.parametrize("divergence", [kl_divergence, js_divergence, cross_entropy])
def test_ignore_mask_excludes_pixels_from_every_reduction(divergence):
    p, q = _random_distributions(10)
    ignore = torch.from_numpy(np.random.default_rng(10).random((2, 3, 4)) < 0.4)
    p[:, :, 0, 0] = float("nan")  # garbage at excluded pixels must not leak into the result
    ignore[:, 0, 0] = True
    full = divergence(p, q, reduction="none").detach().numpy()
    kept = full[~ignore.numpy()]
    masked = divergence(p, q, reduction="none", ignore_mask=ignore)
    assert bool((masked[ignore] == 0).all())
    np.testing.assert_allclose(masked[~ignore].numpy(), kept)
    assert float(divergence(p, q, ignore_mask=ignore)) == pytest.approx(kept.mean())
    assert float(divergence(p, q, reduction="sum", ignore_mask=ignore)) == pytest.approx(kept.sum())
    assert float(divergence(p, q, ignore_mask=torch.ones(2, 3, 4, dtype=torch.bool))) == 0.0


@pytest.mark.parametrize("divergence", [kl_divergence, js_divergence, cross_entropy])
def test_gradients_are_finite_at_one_hot_distributions(divergence):
    p = _one_hot_maps([[0, 1, 2], [2, 2, 0]], 3).requires_grad_(True)
    q = _one_hot_maps([[0, 2, 1], [2, 0, 0]], 3).requires_grad_(True)
    soft = torch.full_like(p, 1 / 3).requires_grad_(True)
    for a, b in ((p, q), (p, soft), (soft, q)):
        value = divergence(a, b)
        grads = torch.autograd.grad(value, (a, b))
        assert torch.isfinite(value)
        assert all(bool(torch.isfinite(g).all()) for g in grads)


def test_divergences_pass_gradcheck_inside_the_simplex():
    p, q = _random_distributions(11, shape=(1, 3, 2, 2))
    p.requires_grad_(True), q.requires_grad_(True)
    for divergence in (kl_divergence, js_divergence, cross_entropy):
        assert torch.autograd.gradcheck(lambda a, b: divergence(a, b), (p, q))
    logits_p = torch.randn(1, 3, 2, 2, dtype=torch.float64, requires_grad=True)
    logits_q = torch.randn(1, 3, 2, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: js_divergence_from_logits(a, b), (logits_p, logits_q))


@pytest.mark.parametrize(
    ("from_logits", "on_probabilities"),
    [
        (kl_divergence_from_logits, kl_divergence),
        (js_divergence_from_logits, js_divergence),
        (cross_entropy_from_logits, cross_entropy),
    ],
)
def test_logit_variants_equal_probability_variants_and_accept_log_probabilities(from_logits, on_probabilities):
    gen = torch.Generator().manual_seed(12)
    logits_p = 3 * torch.randn(2, 5, 3, 4, generator=gen, dtype=torch.float64)
    logits_q = 3 * torch.randn(2, 5, 3, 4, generator=gen, dtype=torch.float64)
    expected = on_probabilities(torch.softmax(logits_p, 1), torch.softmax(logits_q, 1), reduction="none")
    torch.testing.assert_close(from_logits(logits_p, logits_q, reduction="none"), expected)
    shifted = from_logits(logits_p + 7.0, torch.log_softmax(logits_q, 1), reduction="none")
    torch.testing.assert_close(shifted, expected)


def test_logit_variants_handle_probability_zero():
    log_p = torch.log(_one_hot_maps([[0, 1], [2, 0]], 3)).requires_grad_(True)  # -inf entries
    log_q = torch.log(_one_hot_maps([[1, 1], [2, 0]], 3).mul(0.8).add(0.2 / 3)).requires_grad_(True)
    js = js_divergence_from_logits(log_p, log_q, reduction="none")
    expected = js_divergence(log_p.exp(), log_q.exp(), reduction="none")
    torch.testing.assert_close(js, expected)
    disjoint = js_divergence_from_logits(log_p, log_p.flip(1), reduction="none")
    torch.testing.assert_close(disjoint[0, 0, 0], torch.tensor(math.log(2), dtype=torch.float64))
    for from_logits in (kl_divergence_from_logits, js_divergence_from_logits, cross_entropy_from_logits):
        for a, b in ((log_p, log_q), (log_q, log_p), (log_p, log_p.flip(1))):
            value = from_logits(a, b)
            grads = torch.autograd.grad(value, (log_p, log_q), allow_unused=True)
            assert torch.isfinite(value)
            assert all(g is None or bool(torch.isfinite(g).all()) for g in grads)


def test_divergences_reject_bad_arguments():
    p, q = _random_distributions(13)
    with pytest.raises(ValueError, match="reduction"):
        js_divergence(p, q, reduction="average")
    with pytest.raises(ValueError, match="same shape"):
        kl_divergence(p, q[:, :4])
    with pytest.raises(ValueError, match="ignore_mask"):
        cross_entropy(p, q, ignore_mask=torch.zeros(2, 3, dtype=torch.bool))
    with pytest.raises(TypeError, match="bool"):
        cross_entropy(p, q, ignore_mask=torch.zeros(2, 3, 4))
