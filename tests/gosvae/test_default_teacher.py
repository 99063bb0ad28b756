"""The default teacher: one name used by scenarios, ``gosvae eval`` and codec configs, a zoo
teacher whose recorded clean val mIoU meets the project's goal (>= 0.90), and (slow) that record
re-measured from the shipped weights."""

from __future__ import annotations

import pytest
import torch

from gosvae import DEFAULT_TEACHER, zoo
from gosvae.cli import build_parser
from gosvae.datasets import build_dataset
from gosvae.metrics.segmentation import confusion_matrix, mean_iou, pixel_accuracy
from gosvae.teachers import load_teacher
from gosvae.training.codec import CodecTrainingConfig
from simulation.scenario import Scenario


def test_every_default_names_the_same_zoo_teacher():
    entry = zoo.get_entry(DEFAULT_TEACHER)
    assert entry.kind == "teacher" and entry.weights_path.is_file()
    assert Scenario.model_fields["teacher"].default == DEFAULT_TEACHER
    assert CodecTrainingConfig.model_fields["teacher"].default == DEFAULT_TEACHER
    assert build_parser().parse_args(["eval", "--models", "m"]).teacher == DEFAULT_TEACHER


def test_the_default_teacher_record_meets_the_accuracy_goal():
    quality = zoo.get_entry(DEFAULT_TEACHER).quality
    assert quality["dataset"] == "synthetic-urban/val" and quality["num_images"] == 100
    assert quality["size"] == [256, 512]
    assert quality["miou"] >= 0.90


@pytest.mark.slow
def test_the_recorded_quality_is_what_the_shipped_weights_give():
    torch.set_num_threads(2)
    teacher = load_teacher(DEFAULT_TEACHER)
    data = build_dataset(name="synthetic-urban", split="val", num_images=100, size=(256, 512), seed=0)
    total = torch.zeros(teacher.num_classes, teacher.num_classes, dtype=torch.int64)
    with torch.no_grad():
        for image, label in data:
            total += confusion_matrix(teacher.predict(image[None])[0], label, num_classes=teacher.num_classes)
    quality = zoo.get_entry(DEFAULT_TEACHER).quality
    assert float(mean_iou(total)) == pytest.approx(quality["miou"], abs=1e-4)
    assert float(pixel_accuracy(total)) == pytest.approx(quality["pixel_accuracy"], abs=1e-4)
