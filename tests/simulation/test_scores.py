"""Aggregation of per-image scores into a result row, against direct computations."""

import math

import numpy as np
import pytest
import scipy.stats
import torch

from simulation.scores import ImageScores, aggregate_scores


def _image(confusion: list[list[int]], *, miou: float, mse: float = 0.01, psnr_db: float = 20.0) -> ImageScores:
    c = torch.tensor(confusion, dtype=torch.int64)
    return ImageScores(c, c, miou, mse, psnr_db, 0.0)


def test_dataset_miou_comes_from_the_summed_confusion_matrix():
    a = _image([[8, 2], [0, 0]], miou=0.8)      # class 1 absent from the ground truth
    b = _image([[0, 0], [5, 5]], miou=0.5)
    row = aggregate_scores([a, b])
    # Summed: [[8, 2], [5, 5]] -> IoU0 = 8 / (10 + 13 - 8), IoU1 = 5 / (10 + 7 - 5)
    expected = np.mean([8 / 15, 5 / 12])
    assert row["miou_gt"] == pytest.approx(expected)
    assert row["pixel_accuracy"] == pytest.approx(13 / 20)
    assert row["miou_gt_image_mean"] == pytest.approx(0.65)


def test_interval_is_student_t_of_per_image_values_clipped_to_unit_range():
    rng = np.random.default_rng(0)
    confusion = [[50, 3], [4, 43]]
    values = rng.uniform(0.55, 0.75, size=12)
    row = aggregate_scores([_image(confusion, miou=float(v)) for v in values])
    low, high = scipy.stats.t.interval(0.95, len(values) - 1, loc=values.mean(), scale=scipy.stats.sem(values))
    half = (high - low) / 2
    assert row["miou_gt_ci_low"] == pytest.approx(row["miou_gt"] - half)
    assert row["miou_gt_ci_high"] == pytest.approx(row["miou_gt"] + half)

    # Two very different images: the t interval (t = 12.7 at one degree of freedom) is wider than
    # [0, 1]; mIoU cannot leave that range, so neither does its interval.
    wide = aggregate_scores([_image(confusion, miou=0.1), _image(confusion, miou=0.9)])
    assert wide["miou_gt_ci_low"] == 0.0 and wide["miou_gt_ci_high"] == 1.0


def test_one_image_has_no_interval():
    row = aggregate_scores([_image([[3, 1], [1, 3]], miou=0.6)])
    assert math.isnan(row["miou_gt_ci_low"]) and math.isnan(row["miou_gt_ci_high"])
