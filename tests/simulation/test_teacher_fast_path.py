"""The receiver's fast path gives the plain path's scores: the teacher's inference copy, reuse of
repeated receptions and of repeated pixels, batched against one-by-one labelling."""

from __future__ import annotations

import pytest
import torch

from gosvae.labels import LabelMapping
from gosvae.labels.scoring import MappedTeacher
from gosvae.labels.spaces import LabelSpace
from gosvae.teachers import UrbanUNet
from gosvae.teachers.inference import FastUrbanUNet, inference_teacher, predict_labels
from simulation.receiver import LabelCache, Receiver, packets_key, pixels_key
from simulation.scores import score_images
from simulation.testing import tiny_urban_unet


def _teacher(*, flip: bool, seed: int = 0) -> UrbanUNet:
    return tiny_urban_unet(flip=flip, seed=seed)


def _assert_same_labels(fast: torch.Tensor, plain: torch.Tensor, probs: torch.Tensor) -> None:
    """Labels equal, except where the two best classes of the plain probabilities are within float rounding."""
    top2 = probs.topk(2, dim=1).values
    tie = (top2[:, 0] - top2[:, 1]) < 1e-4
    assert fast.dtype == torch.int64 and fast.shape == plain.shape
    assert torch.equal(fast[~tie], plain[~tie])


@pytest.mark.parametrize("flip", [False, True])
def test_fast_urban_unet_equals_the_teacher(flip):
    teacher = _teacher(flip=flip)
    fast = inference_teacher(teacher)
    assert isinstance(fast, FastUrbanUNet) and fast.num_classes == 5 and fast.class_names == teacher.class_names
    x = torch.rand(3, 3, 32, 48, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        probs = teacher.class_probabilities(x)
        plain = teacher.predict(x)
    torch.testing.assert_close(fast.class_probabilities(x), probs, rtol=0, atol=1e-4)
    _assert_same_labels(predict_labels(fast, x), plain, probs)
    assert (plain != plain[:, :, :1]).any()  # not a constant map: the comparison means something


def test_the_source_teacher_is_left_as_it_was():
    teacher = _teacher(flip=True)
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    inference_teacher(teacher)
    after = teacher.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in teacher.modules())
    assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())


def test_a_mapped_teacher_gets_a_fast_inner_teacher():
    teacher = _teacher(flip=True)
    source = LabelSpace("five", tuple(f"c{i}" for i in range(5)))
    target = LabelSpace("two", ("a", "b"))
    mapping = LabelMapping(name="five_to_two", source=source, target=target, table=(0, 0, 1, 1, -1))
    mapped = MappedTeacher(teacher, mapping).freeze()
    fast = inference_teacher(mapped)
    assert isinstance(fast, MappedTeacher) and isinstance(fast.teacher, FastUrbanUNet)
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        probs = mapped.class_probabilities(x)
        plain = mapped.predict(x)
    _assert_same_labels(predict_labels(fast, x), plain, probs)


def test_other_teachers_are_kept():
    class Plain(torch.nn.Module):
        num_classes = 2

    teacher = Plain()
    assert inference_teacher(teacher) is teacher  # type: ignore[arg-type]


def test_batched_labels_equal_one_by_one():
    fast = inference_teacher(_teacher(flip=True))
    x = torch.rand(4, 3, 32, 48, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        probs = fast.class_probabilities(x)
    one_by_one = torch.cat([predict_labels(fast, x[i : i + 1]) for i in range(4)])
    _assert_same_labels(predict_labels(fast, x), one_by_one, probs)


def test_keys_tell_receptions_and_pixels_apart():
    assert packets_key([b"ab", b"c"]) != packets_key([b"a", b"bc"])
    assert packets_key([None]) != packets_key([b""]) != packets_key([])
    assert packets_key([b"ab", None]) == packets_key([b"ab", None])
    x = torch.rand(3, 8, 8)
    assert pixels_key(x) == pixels_key(x.clone()) != pixels_key(x.double())
    y = x.clone()
    y[0, 0, 0] = torch.nextafter(y[0, 0, 0], torch.tensor(2.0))
    assert pixels_key(y) != pixels_key(x)
    assert pixels_key(x.permute(1, 2, 0).contiguous().permute(2, 0, 1)) == pixels_key(x)  # layout does not matter


def test_label_cache_reuses_identical_pixels_and_stays_bounded():
    fast = inference_teacher(_teacher(flip=True))
    x = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    batch = torch.stack([x[0], x[1], x[0], x[2]])
    cache = LabelCache(max_entries=2)
    seen: list[int] = []

    def predict(images: torch.Tensor) -> torch.Tensor:
        seen.append(len(images))
        return torch.cat([predict_labels(fast, img[None]) for img in images])

    labels, reused = cache.labels(batch, predict)
    assert reused == 1 and seen == [3] and len(cache) == 2  # x[0] labelled once; three images, two kept
    fresh = torch.cat([predict_labels(fast, img[None]) for img in batch])
    assert torch.equal(labels, fresh) and labels.dtype == torch.int64
    again, reused = cache.labels(x[2:3], predict)
    assert reused == 1 and seen == [3] and torch.equal(again, fresh[3:])


class _CountingCodec:
    """A stand-in codec: the image is a function of the received packets (lost ones grey)."""

    def __init__(self) -> None:
        self.decoded = 0

    def decode(self, received, *, image_size):
        from gosvae.codecs.base import DecodedBatch

        images = []
        for packets in received:
            self.decoded += 1
            seed = sum(p[0] for p in packets if p) if any(packets) else 0
            g = torch.Generator().manual_seed(seed)
            images.append(torch.rand(3, *image_size, generator=g) if seed else torch.full((3, *image_size), 0.5))
        concealed = [sum(p is None for p in packets) / len(packets) for packets in received]
        return DecodedBatch(images=torch.stack(images), concealed_fraction=concealed, failed=[c == 1.0 for c in concealed])


def _receiver(*, reuse: bool, fast: bool = True) -> Receiver:
    g = torch.Generator().manual_seed(4)
    images = torch.rand(4, 3, 32, 32, generator=g)
    labels = torch.randint(0, 5, (4, 32, 32), generator=g)
    return Receiver(_teacher(flip=True), images=images, labels=labels, reuse=reuse, fast_teacher=fast)


def _same(a, b) -> bool:
    return (torch.equal(a.confusion_gt, b.confusion_gt) and torch.equal(a.confusion_teacher, b.confusion_teacher)
            and (a.miou_gt, a.mse, a.psnr_db, a.concealed_fraction, a.failed) == (b.miou_gt, b.mse, b.psnr_db,
                                                                                  b.concealed_fraction, b.failed))


def test_reused_receptions_and_pixels_give_the_scores_of_a_fresh_decode():
    point_a = [[b"\x01", None], [None, None], [None, None], [b"\x07", b"\x02"]]
    point_b = [[b"\x01", None], [None, None], [b"\x05", None], [None, None]]
    plain, fast = _receiver(reuse=False), _receiver(reuse=True)
    codec_plain, codec_fast = _CountingCodec(), _CountingCodec()
    expected = [plain.decode_and_score("c", codec_plain, point, [0, 1, 2, 3])[0] for point in (point_a, point_b)]
    got_a, work_a = fast.decode_and_score("c", codec_fast, point_a, [0, 1, 2, 3])
    got_b, work_b = fast.decode_and_score("c", codec_fast, point_b, [0, 1, 2, 3])
    # point a: images 1 and 2 lost everything: one decode; point b: images 0 and 1 repeat point a, image 3's
    # grey image was labelled at point a
    assert (work_a.decoded, work_a.repeated, work_a.teacher_reused) == (4, 0, 0)
    assert (work_b.decoded, work_b.repeated, work_b.teacher_reused) == (2, 2, 1)
    assert codec_plain.decoded == 8 and codec_fast.decoded == 3 + 2
    for got, want in zip(got_a + got_b, expected[0] + expected[1]):
        assert _same(got, want)


def test_the_fast_teacher_scores_like_the_teacher():
    point = [[b"\x01", None], [None, None], [b"\x09", b"\x03"], [b"\x07", b"\x02"]]
    plain, fast = _receiver(reuse=False, fast=False), _receiver(reuse=True, fast=True)
    assert not isinstance(plain.teacher, FastUrbanUNet) and isinstance(fast.teacher, FastUrbanUNet)
    got = fast.decode_and_score("c", _CountingCodec(), point, [0, 1, 2, 3])[0]
    want = plain.decode_and_score("c", _CountingCodec(), point, [0, 1, 2, 3])[0]
    for g, w in zip(got, want):
        # a pixel may flip where two classes tie to float32 rounding: a handful of pixels at most
        assert (g.confusion_gt - w.confusion_gt).abs().sum() <= 4
        assert g.mse == w.mse and g.concealed_fraction == w.concealed_fraction


def test_score_images_takes_given_predictions():
    teacher = _teacher(flip=False)
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(6))
    common = dict(reference=x.flip(0), labels=torch.zeros(2, 32, 32, dtype=torch.long),
                  teacher_labels=torch.ones(2, 32, 32, dtype=torch.long), concealed=[0.0, 0.5], num_classes=5)
    by_teacher = score_images(x, teacher=teacher, **common)
    given = score_images(x, predictions=teacher.predict(x), **common)
    assert all(_same(a, b) for a, b in zip(by_teacher, given))
    with pytest.raises(ValueError, match="teacher or its predictions"):
        score_images(x, **common)


def test_worker_threads_label_like_one_thread():
    one = _receiver(reuse=False)
    two = Receiver(one.teacher, images=one.images, labels=one.labels, reuse=False, workers=2)
    assert (one.workers, two.workers) == (torch.get_num_threads(), 2)
    x = torch.rand(5, 3, 32, 32, generator=torch.Generator().manual_seed(8))
    with torch.no_grad():
        probs = one.teacher.class_probabilities(x)
    _assert_same_labels(two.predict(x), one.predict(x), probs)
    assert torch.get_num_threads() == one.workers  # the workers' one-thread setting stays theirs
    two.close()
