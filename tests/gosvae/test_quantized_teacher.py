"""The int8 copy of urban-unet teachers: close to float32, exact to its own calibration, checked input."""

from __future__ import annotations

import json

import pytest
import torch

from gosvae.errors import UserError
from gosvae.labels import LabelMapping
from gosvae.labels.scoring import MappedTeacher
from gosvae.labels.spaces import LabelSpace
from gosvae.teachers import UrbanUNet, load_teacher
from gosvae.teachers.inference import FastUrbanUNet, inference_teacher, predict_labels
from gosvae.teachers.quantized import (
    ACTIVATION_QMAX,
    ENGINE,
    Int8Calibration,
    QuantizedUrbanUNet,
    calibrate_int8,
    int8_unavailable_reason,
    zoo_int8_calibration,
)
from simulation.testing import tiny_urban_unet

pytestmark = pytest.mark.skipif(int8_unavailable_reason() is not None, reason=str(int8_unavailable_reason()))


def _teacher(*, flip: bool = True, seed: int = 0) -> UrbanUNet:
    """A tiny urban-unet with residual blocks everywhere and non-trivial batch norms (folded into the convolutions)."""
    return tiny_urban_unet(flip=flip, seed=seed, widths=(8, 12, 16, 16), statistics_images=_images(4, seed=seed + 2))


def _images(count: int, *, seed: int) -> torch.Tensor:
    """Smooth random images (blocks of colour plus noise), more like photos than white noise."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(count, 3, 4, 6, generator=g)
    smooth = torch.nn.functional.interpolate(coarse, size=(32, 48), mode="bilinear", align_corners=False)
    return (smooth + 0.05 * torch.randn(count, 3, 32, 48, generator=g)).clamp(0, 1)


@pytest.fixture(scope="module")
def calibrated() -> tuple[UrbanUNet, Int8Calibration]:
    teacher = _teacher()
    return teacher, calibrate_int8(teacher, [_images(2, seed=10), _images(2, seed=11)], data={"dataset": "random"})


def test_int8_labels_follow_the_float_teacher(calibrated):
    teacher, calibration = calibrated
    int8 = QuantizedUrbanUNet(teacher, calibration)
    x = _images(3, seed=20)
    with torch.no_grad():
        float_probs = teacher.class_probabilities(x)
        float_labels = teacher.predict(x)
    probs = int8.class_probabilities(x)
    labels = predict_labels(int8, x)
    assert labels.dtype == torch.int64 and labels.shape == (3, 32, 48)
    torch.testing.assert_close(probs.sum(1), torch.ones(3, 32, 48), rtol=0, atol=1e-5)
    # A random net amplifies rounding more than a trained one (the zoo teacher: > 98 % equal labels,
    # below); still, int8 follows it: wrong scales or a miswired graph give about 1 label in 5 right.
    assert (probs - float_probs).abs().mean() < 0.03
    assert (labels == float_labels).float().mean() > 0.8
    top2 = float_probs.topk(2, dim=1).values
    sure = (top2[:, 0] - top2[:, 1]) > 0.3  # where float32 is sure, int8 agrees
    assert sure.float().mean() > 0.1 and torch.equal(labels[sure], float_labels[sure])
    assert (float_labels != float_labels[:, :1, :1]).any()  # not a constant map


def test_int8_labels_of_the_colour_teacher_are_its_float_labels():
    from simulation.testing import colour_teacher

    teacher = colour_teacher().freeze()
    images = _images(4, seed=30)
    int8 = QuantizedUrbanUNet(teacher, calibrate_int8(teacher, [images[:2]]))
    with torch.no_grad():
        reference = teacher.predict(images[2:])
    assert (predict_labels(int8, images[2:]) == reference).float().mean() > 0.99
    assert len(reference.unique()) >= 3


def test_int8_labels_do_not_depend_on_the_batch(calibrated):
    teacher, calibration = calibrated
    int8 = QuantizedUrbanUNet(teacher, calibration)
    x = _images(3, seed=21)
    together = predict_labels(int8, x)
    one_by_one = torch.cat([predict_labels(int8, x[i : i + 1]) for i in range(3)])
    assert torch.equal(together, one_by_one)
    assert torch.equal(int8.class_probabilities(x)[1:2], int8.class_probabilities(x[1:2]))


def test_the_calibration_round_trips_through_json(calibrated):
    teacher, calibration = calibrated
    text = json.dumps(calibration.to_json())
    again = Int8Calibration.from_json(json.loads(text), where="entry")
    assert again.qparams == calibration.qparams and again.data == {"dataset": "random"}
    x = _images(2, seed=22)
    assert torch.equal(QuantizedUrbanUNet(teacher, again).class_probabilities(x),
                       QuantizedUrbanUNet(teacher, calibration).class_probabilities(x))


def test_activations_are_seven_bit_and_every_layer_is_calibrated(calibrated):
    teacher, calibration = calibrated
    # 3 encoder inputs... : every conv, add-relu and the two graph inputs have their own parameters
    convs = sum(isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3) for m in teacher.modules())
    residuals = sum(type(m).__name__ == "_ResidualBlock" for m in teacher.modules())
    assert len(calibration.qparams) == convs + residuals + 2
    assert all(0 <= zp <= ACTIVATION_QMAX and scale > 0 for scale, zp in calibration.qparams.values())
    assert calibration.to_json()["engine"] == ENGINE


def test_the_source_teacher_is_left_as_it_was(calibrated):
    teacher, calibration = calibrated
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    QuantizedUrbanUNet(teacher, calibration)
    after = teacher.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)


@pytest.mark.parametrize(("change", "message"), [
    (lambda c: c.update(engine="fbgemm"), "entry.engine: expected 'onednn', got 'fbgemm'"),
    (lambda c: c.update(qparams={}), "entry.qparams: expected an object of 1 to 4096 entries"),
    (lambda c: c["qparams"].update(head_fuse=[float("nan"), 0]), "entry.qparams.head_fuse: expected [scale in (1e-12, 1e6)"),
    (lambda c: c["qparams"].update(head_fuse=[0.1, 128]), "zero point in [0, 127]], got [0.1, 128]"),
    (lambda c: c["qparams"].update(head_fuse=[0.1, True]), "entry.qparams.head_fuse: expected"),
    (lambda c: c["qparams"].update(head_fuse="0.1"), "entry.qparams.head_fuse: expected"),
])
def test_malformed_calibrations_are_refused_in_one_line(calibrated, change, message):
    _, calibration = calibrated
    value = json.loads(json.dumps(calibration.to_json()))
    change(value)
    with pytest.raises(UserError) as info:
        Int8Calibration.from_json(value, where="entry")
    assert message in str(info.value) and "\n" not in str(info.value)


def test_a_calibration_of_another_network_does_not_load(calibrated):
    _, calibration = calibrated
    other = UrbanUNet(num_classes=5, widths=(8, 12, 16, 16), head_res_blocks=1).freeze()
    with pytest.raises(UserError, match=r"int8 teacher: the int8 calibration does not fit this network \(\d+ missing, \d+ unknown"):
        QuantizedUrbanUNet(other, calibration)


def test_inference_teacher_builds_the_int8_copy_inside_a_label_mapping(calibrated):
    teacher, calibration = calibrated
    source = LabelSpace("five", tuple(f"c{i}" for i in range(5)))
    mapping = LabelMapping(name="five_to_two", source=source, target=LabelSpace("two", ("a", "b")), table=(0, 0, 1, 1, -1))
    fast = inference_teacher(MappedTeacher(teacher, mapping).freeze(), int8=calibration)
    assert isinstance(fast, MappedTeacher) and isinstance(fast.teacher, QuantizedUrbanUNet)
    x = _images(1, seed=23)
    by_hand = MappedTeacher(QuantizedUrbanUNet(teacher, calibration), mapping).freeze()
    assert torch.equal(predict_labels(fast, x), predict_labels(by_hand, x))


def test_int8_is_refused_for_teachers_other_than_urban_unet(calibrated):
    _, calibration = calibrated
    with pytest.raises(UserError, match="only urban-unet teachers have an int8 copy, not Conv"):
        inference_teacher(torch.nn.Conv2d(3, 3, 1), int8=calibration)
    assert isinstance(inference_teacher(_teacher(flip=False)), FastUrbanUNet)  # float32 path unchanged


def test_a_zoo_teacher_without_calibration_is_named_in_the_error():
    with pytest.raises(UserError) as info:
        zoo_int8_calibration("urban-unet-l-cpu")
    message = str(info.value)
    assert message.startswith("teacher 'urban-unet-l-cpu' has no int8 calibration in the zoo (teachers with one: ")
    assert "urban-unet-xlf8k-cpu" in message and "\n" not in message


def test_the_default_teachers_shipped_calibration_fits_and_met_its_tolerance():
    calibration = zoo_int8_calibration("urban-unet-xlf8k-cpu")
    quality = calibration.quality
    assert quality["num_images"] >= 100 and quality["dataset"] == "synthetic-urban/val"
    assert abs(quality["miou_int8"] - quality["miou_float32"] - quality["miou_change"]) < 2e-6
    assert abs(quality["miou_change"]) <= 0.002
    teacher = load_teacher("urban-unet-xlf8k-cpu")
    int8 = QuantizedUrbanUNet(teacher, calibration)
    from gosvae.datasets import build_dataset

    image, _ = build_dataset(name="synthetic-urban", split="val", num_images=1, size=(128, 256))[0]
    labels = predict_labels(int8, image[None])
    reference = predict_labels(FastUrbanUNet(teacher), image[None])
    assert (labels == reference).float().mean() > 0.98
