"""Label spaces, mapping files, the teacher seen through a mapping, and classifier mapping."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gosvae.datasets.base import CITYSCAPES_CLASSES
from gosvae.datasets.camvid import CAMVID_CLASSES
from gosvae.errors import UserError
from gosvae.labels import (
    KNOWN_SPACES,
    LabelSpace,
    MappedTeacher,
    label_space_of,
    load_mapping,
    resolve_mapping,
    scoring_teacher,
)
from gosvae.teachers import UrbanUNet

CITYSCAPES = KNOWN_SPACES["cityscapes-19"]
CAMVID = KNOWN_SPACES["camvid-11"]

# The mapping of the issue, written out independently of the shipped file.
EXPECTED = {
    "road": "Road", "sidewalk": "Pavement", "building": "Building", "wall": "Building", "fence": "Fence",
    "pole": "Pole", "traffic light": "SignSymbol", "traffic sign": "SignSymbol", "vegetation": "Tree",
    "terrain": "Tree", "sky": "Sky", "person": "Pedestrian", "rider": "Bicyclist", "car": "Car",
    "truck": "Car", "bus": "Car", "train": "Car", "motorcycle": "Bicyclist", "bicycle": "Bicyclist",
}


def test_known_spaces_and_space_of_class_lists():
    assert label_space_of(CITYSCAPES_CLASSES) is CITYSCAPES
    assert label_space_of(list(CAMVID_CLASSES)).name == "camvid-11"
    custom = label_space_of(["a", "b", "c"])
    assert custom.name == "custom-3" and custom != label_space_of(["a", "c", "b"])
    with pytest.raises(ValueError, match="camvid-11"):
        label_space_of(["a"] * 11, name="camvid-11")


def test_shipped_cityscapes_to_camvid_mapping_is_the_declared_table():
    mapping = resolve_mapping(CITYSCAPES, CAMVID)
    assert mapping.name == "cityscapes-19_to_camvid-11"
    for i, source in enumerate(CITYSCAPES_CLASSES):
        assert CAMVID_CLASSES[mapping.table[i]] == EXPECTED[source]
    labels = torch.arange(19).view(1, 19)
    expected = torch.tensor([[CAMVID_CLASSES.index(EXPECTED[c]) for c in CITYSCAPES_CLASSES]])
    torch.testing.assert_close(mapping.map_labels(labels), expected)
    assert "cityscapes-19 → camvid-11" in mapping.describe()


def test_mapped_probabilities_are_sums_over_source_classes():
    mapping = resolve_mapping(CITYSCAPES, CAMVID)
    probs = torch.softmax(torch.randn(2, 19, 3, 4, generator=torch.Generator().manual_seed(0)), dim=1)
    mapped = mapping.map_probabilities(probs)
    assert mapped.shape == (2, 11, 3, 4)
    p = probs.numpy()
    for target in range(11):
        sources = [i for i, c in enumerate(CITYSCAPES_CLASSES) if CAMVID_CLASSES.index(EXPECTED[c]) == target]
        np.testing.assert_allclose(mapped[:, target].numpy(), p[:, sources].sum(axis=1), rtol=1e-6)
    torch.testing.assert_close(mapped.sum(1), torch.ones(2, 3, 4))


def test_equal_spaces_use_the_identity_and_other_pairs_need_a_mapping():
    assert resolve_mapping(CAMVID, CAMVID).name == "identity"
    with pytest.raises(UserError, match=r"predicts camvid-11 classes but the dataset is labelled in cityscapes-19"):
        resolve_mapping(CAMVID, CITYSCAPES)
    with pytest.raises(UserError, match="identity.*cityscapes-19 is not the dataset's camvid-11"):
        resolve_mapping(CITYSCAPES, CAMVID, mapping="identity")


def _write(tmp_path, text: str):
    path = tmp_path / "m.yaml"
    path.write_text(text)
    return path


def test_a_user_mapping_file_with_unmapped_classes(tmp_path):
    source, target = LabelSpace("mine-3", ("a", "b", "c")), LabelSpace("theirs-2", ("X", "Y"))
    path = _write(tmp_path, "source: mine-3\ntarget: theirs-2\nclasses: {a: Y, b: null, c: X}\n")
    mapping = resolve_mapping(source, target, mapping=path)
    assert mapping.table == (1, -1, 0) and mapping.unmapped_id == 2
    assert mapping.map_labels(torch.tensor([0, 1, 2])).tolist() == [1, 2, 0]
    probs = torch.tensor([0.5, 0.3, 0.2]).view(1, 3, 1, 1)
    torch.testing.assert_close(mapping.map_probabilities(probs).flatten(), torch.tensor([0.2, 0.5]))


@pytest.mark.parametrize(
    "text, message",
    [
        ("source: mine-3\ntarget: theirs-2\nclasses: {a: Y, b: X}\n", r"'classes' misses \['c'\]"),
        ("source: mine-3\ntarget: theirs-2\nclasses: {a: Y, b: X, c: X, d: X}\n", "unknown mine-3 classes"),
        ("source: mine-3\ntarget: theirs-2\nclasses: {a: Y, b: X, c: Z}\n", r"classes.c: 'Z' is not a theirs-2 class"),
        ("source: other\ntarget: theirs-2\nclasses: {}\n", "source is 'other', expected 'mine-3'"),
        ("source: mine-3\nclasses: {}\n", "expected exactly the keys source, target, classes"),
        ("source: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_mapping_files_give_one_line_errors(tmp_path, text, message):
    source, target = LabelSpace("mine-3", ("a", "b", "c")), LabelSpace("theirs-2", ("X", "Y"))
    with pytest.raises(UserError, match=message) as info:
        load_mapping(_write(tmp_path, text), source=source, target=target)
    assert "\n" not in str(info.value)


def test_missing_mapping_file_is_named(tmp_path):
    with pytest.raises(UserError, match="nope.yaml: file not found"):
        resolve_mapping(CITYSCAPES, CAMVID, mapping=tmp_path / "nope.yaml")


def test_scoring_teacher_predicts_dataset_ids_from_summed_probabilities():
    torch.manual_seed(0)
    teacher = UrbanUNet(num_classes=19, widths=(4, 4, 8, 8)).freeze()
    assert teacher.label_space is CITYSCAPES
    same, identity = scoring_teacher(teacher, dataset_space=CITYSCAPES)
    assert same is teacher and identity.name == "identity"
    scorer, mapping = scoring_teacher(teacher, dataset_space=CAMVID)
    assert isinstance(scorer, MappedTeacher) and scorer.label_space is CAMVID and scorer.num_classes == 11
    x = torch.rand(2, 3, 32, 48, generator=torch.Generator().manual_seed(1))
    probs = teacher(x).numpy()
    table = np.array([CAMVID_CLASSES.index(EXPECTED[c]) for c in CITYSCAPES_CLASSES])
    summed = np.stack([probs[:, table == t].sum(axis=1) for t in range(11)], axis=1)
    np.testing.assert_array_equal(scorer.predict(x).numpy(), summed.argmax(axis=1))


def test_classifier_of_a_cityscapes_teacher_mapped_into_camvid():
    from gosvae.training.teacher import map_classifier

    torch.manual_seed(0)
    source = UrbanUNet(num_classes=19, widths=(4, 4, 8, 8))
    target = UrbanUNet(num_classes=11, widths=(4, 4, 8, 8), class_names=CAMVID_CLASSES)
    state = map_classifier(
        source.state_dict(), model=target, source_classes=list(CITYSCAPES_CLASSES), mapping="cityscapes-19_to_camvid-11"
    )
    weight = source.state_dict()["head.1.weight"]
    car_rows = [CITYSCAPES_CLASSES.index(c) for c in ("car", "truck", "bus", "train")]
    torch.testing.assert_close(state["head.1.weight"][CAMVID_CLASSES.index("Car")], weight[car_rows].mean(0))
    torch.testing.assert_close(state["head.1.weight"][CAMVID_CLASSES.index("Sky")], weight[CITYSCAPES_CLASSES.index("sky")])
    target.load_state_dict(state)  # the mapped state fits the 11-class net exactly
