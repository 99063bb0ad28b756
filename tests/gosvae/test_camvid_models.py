"""The CamVid models of the zoo: declared label space, recorded quality meeting the goals, and
(slow, where a CamVid copy is present) the teacher's record re-measured from the shipped weights."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from gosvae import zoo
from gosvae.datasets import build_dataset
from gosvae.labels import KNOWN_SPACES
from gosvae.metrics.segmentation import confusion_matrix, mean_iou, pixel_accuracy
from gosvae.teachers import load_teacher

CAMVID_ROOT = Path(os.environ.get("CAMVID_ROOT", Path(__file__).resolve().parents[3] / "shared" / "datasets" / "camvid"))


def test_the_camvid_teacher_predicts_camvid_classes_and_meets_the_goal():
    entry = zoo.get_entry("camvid-unet")
    assert entry.kind == "teacher" and entry.arch_config["class_names"] == list(KNOWN_SPACES["camvid-11"].class_names)
    quality = entry.quality
    assert quality["dataset"] == "camvid/val" and quality["num_images"] == 101 and quality["size"] == [288, 384]
    assert quality["miou"] >= 0.55
    assert set(quality["per_class_iou"]) == set(KNOWN_SPACES["camvid-11"].class_names)
    assert load_teacher("camvid-unet").label_space is KNOWN_SPACES["camvid-11"]


@pytest.mark.parametrize("ratio", [4, 8, 16])
def test_gos_vae_star_is_recorded_above_its_vq_vae_at_comparable_payload(ratio):
    gos, vq = zoo.get_entry(f"gos-vae-star-camvid-r{ratio}").quality, zoo.get_entry(f"vq-vae-camvid-r{ratio}").quality
    assert gos["miou_gt"] > vq["miou_gt"]
    assert gos["payload_kb"] <= 1.1 * vq["payload_kb"]


@pytest.mark.slow
@pytest.mark.camvid
@pytest.mark.skipif(not CAMVID_ROOT.is_dir(), reason=f"no CamVid copy at {CAMVID_ROOT}")
def test_the_recorded_teacher_quality_is_what_the_shipped_weights_give():
    torch.set_num_threads(2)
    teacher = load_teacher("camvid-unet")
    data = build_dataset(name="camvid", split="val", root=CAMVID_ROOT, size=(288, 384))
    total = torch.zeros(11, 11, dtype=torch.int64)
    with torch.no_grad():
        for image, label in data:
            total += confusion_matrix(teacher.predict(image[None])[0], label, num_classes=11)
    quality = zoo.get_entry("camvid-unet").quality
    assert float(mean_iou(total)) == pytest.approx(quality["miou"], abs=2e-4)
    assert float(pixel_accuracy(total)) == pytest.approx(quality["pixel_accuracy"], abs=2e-4)
