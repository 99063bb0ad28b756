"""RL-ASC: semantic map, quantiser, Huffman lengths, agent and REINFORCE, packets, codec (kit), training."""

from __future__ import annotations

import math
import zlib

import numpy as np
import pytest
import torch

from gosvae.codecs import build_codec
from gosvae.codecs.rl_asc import RLASCCodec
from gosvae.codecs.rl_asc_packets import pack_concept, pack_semantic, parse_concept, unpack_semantic
from gosvae.codecs.testing import check_codec
from gosvae.errors import UserError
from gosvae.models.rl_asc import RLASC, LevelQuantizer, downscale_labels, huffman_code_lengths, upscale_labels
from gosvae.models.rl_asc_agent import AllocationAgent, Episode, discounted_returns, reinforce_loss, run_episode

TINY = {"num_classes": 19, "concept_channels": 2, "feature_channels": 8, "width": 4, "local_blocks": 1, "agent_hidden": 8}


def _model(seed: int = 0) -> RLASC:
    torch.manual_seed(seed)
    model = RLASC(**TINY).eval()
    model.fit_symbol_counts(torch.randn(4, 2, 8, 8) * 0.5)
    return model


def _images(n: int = 2, h: int = 32, w: int = 48) -> torch.Tensor:
    return torch.rand(n, 3, h, w, generator=torch.Generator().manual_seed(1))


# --- semantic map and quantiser -------------------------------------------------------------------
def test_downscale_labels_is_a_majority_vote_with_ties_to_the_lowest_id():
    labels = torch.zeros(1, 16, 8, dtype=torch.int64)
    labels[0, :8, :] = 3
    labels[0, :8, :5] = 7            # block 0: 40 pixels of 7, 24 of 3 -> 7
    labels[0, 8:, :4] = 5            # block 1: 32 of 5, 32 of 0 -> tie -> 0
    assert downscale_labels(labels, num_classes=8).tolist() == [[[7], [0]]]
    assert upscale_labels(torch.tensor([[[1, 2]]]), factor=2).tolist() == [[[1, 1, 2, 2], [1, 1, 2, 2]]]
    with pytest.raises(UserError, match="multiples of 8"):
        downscale_labels(torch.zeros(1, 12, 8, dtype=torch.int64), num_classes=3)


def test_level_quantizer_forward_is_nearest_centre_and_backward_the_soft_quantiser():
    quantizer = LevelQuantizer(level_sizes=(1, 3), sigma=4.0)
    f = torch.tensor([[[[-0.8, 0.2, 0.6]]]], requires_grad=True)          # (1, 1, 1, 3)
    out = quantizer(f, torch.ones(1, 1, 3, dtype=torch.int64))
    assert out.tolist() == [[[[-1.0, 0.0, 1.0]]]]
    out.sum().backward()
    centres = torch.tensor([-1.0, 0.0, 1.0])
    def soft(v):  # independent: d/dv of sum_l softmax(-s|v-l|) l
        return (torch.softmax(-4.0 * (v - centres).abs(), 0) * centres).sum()
    expected = [torch.autograd.functional.jacobian(soft, torch.tensor(v)).item() for v in (-0.8, 0.2, 0.6)]
    assert f.grad.flatten().tolist() == pytest.approx(expected, rel=1e-5)
    coarse = quantizer(f, torch.zeros(1, 1, 3, dtype=torch.int64))
    assert coarse.abs().sum() == 0                                          # one centre: 0, nothing sent


def test_huffman_code_lengths_match_kraft_and_the_textbook_example():
    lengths = huffman_code_lengths([0.4, 0.2, 0.2, 0.1, 0.1])
    assert sum(2.0 ** -lengths) == pytest.approx(1.0)                       # a complete prefix code
    assert float(np.dot(lengths, [0.4, 0.2, 0.2, 0.1, 0.1])) == pytest.approx(2.2)  # optimal average length
    assert huffman_code_lengths([5]).tolist() == [0]
    assert huffman_code_lengths([1, 1]).tolist() == [1, 1]


def test_concept_bits_count_each_concepts_huffman_bits():
    model = _model()
    features = torch.randn(1, 2, 4, 4)
    labels_d = torch.zeros(1, 4, 4, dtype=torch.int64)
    labels_d[0, :, 2:] = 5
    levels = torch.zeros(1, 19, dtype=torch.int64)
    levels[0, 5] = 3
    bits = model.concept_bits(features, labels_d, levels)
    lengths = model.code_lengths()[3]
    symbols = model.quantizer.symbols(features[0][:, labels_d[0] == 5], 3)
    assert bits[0, 5].item() == pytest.approx(float(lengths[symbols.numpy()].sum()))
    assert bits[0, 0].item() == 0 and bits.sum().item() == bits[0, 5].item()   # class 0 at one centre: 0 bits


def test_model_forward_shapes_and_classifier_targets():
    model = _model()
    x, labels = _images(2, 32, 48), torch.randint(0, 19, (2, 32, 48))
    out = model(x, labels, levels=model.finest_levels(2))
    assert out.image.shape == (2, 3, 32, 48) and out.features.shape == (2, 2, 4, 6) and out.labels_d.shape == (2, 4, 6)
    logits, targets = model.classifier(out.features, out.labels_d)
    expected = sorted(c for b in range(2) for c in out.labels_d[b].unique().tolist())
    assert sorted(targets.tolist()) == expected and logits.shape == (len(expected), 19)


# --- agent and REINFORCE ----------------------------------------------------------------------------
def test_discounted_returns_closed_form():
    rewards = torch.tensor([[1.0, 0.0, 2.0], [0.5, 0.5, 0.0]])
    got = discounted_returns(rewards, gamma=0.9)
    assert got[0].tolist() == pytest.approx([1 + 0.81 * 2, 0.9 * 2, 2.0])
    assert got[1].tolist() == pytest.approx([0.5 + 0.45, 0.5, 0.0])


def test_episode_rewards_are_distortion_decrease_minus_rate_and_levels_follow_actions():
    torch.manual_seed(0)
    agent = AllocationAgent(concept_channels=2, num_levels=3, num_classes=4, hidden=8)
    labels_d = torch.tensor([[[0, 0], [2, 2]], [[1, 1], [1, 1]]])
    seen = []

    def evaluate(levels):  # distortion falls, rate rises with the level sum: known closed form
        seen.append(levels.clone())
        total = levels.sum(dim=1).float()
        return 10.0 - total, 0.1 * total

    episode = run_episode(agent, features=torch.randn(2, 2, 2, 2), labels_d=labels_d, evaluate=evaluate, eta=2.0,
                          lmbda=3.0, generator=torch.Generator().manual_seed(0))
    assert episode.valid.tolist() == [[True, True], [True, False]]
    assert seen[0].sum() == 0                                               # every concept starts at the coarsest level
    for b, classes in ((0, [0, 2]), (1, [1])):
        for t, c in enumerate(classes):
            level = episode.levels[b, c].item()
            assert episode.rewards[b, t].item() == pytest.approx(2.0 * level - 3.0 * 0.1 * level, abs=1e-5)
    assert episode.rewards[1, 1] == 0 and episode.levels[0, [1, 3]].sum() == 0


def test_reinforce_raises_the_probability_of_a_rewarded_action():
    torch.manual_seed(0)
    agent = AllocationAgent(concept_channels=1, num_levels=3, num_classes=2, hidden=8)
    optimizer = torch.optim.Adam(agent.parameters(), lr=0.05)
    features, labels_d = torch.randn(8, 1, 2, 2), torch.zeros(8, 2, 2, dtype=torch.int64)
    evaluate = lambda levels: (torch.zeros(8), -(levels[:, 0] == 2).float())  # noqa: E731 - level 2 pays
    start = torch.softmax(agent(features, torch.ones(8, 1, 2, 2), torch.zeros(8, dtype=torch.int64)), 1)[:, 2].mean()
    generator = torch.Generator().manual_seed(0)
    for _ in range(40):
        episode = run_episode(agent, features=features, labels_d=labels_d, evaluate=evaluate, eta=1.0, lmbda=1.0,
                              generator=generator)
        optimizer.zero_grad()
        reinforce_loss(episode, gamma=0.99, entropy_weight=0.0).backward()
        optimizer.step()
    end = torch.softmax(agent(features, torch.ones(8, 1, 2, 2), torch.zeros(8, dtype=torch.int64)), 1)[:, 2].mean()
    assert start < 0.5 and end > 0.9
    assert isinstance(episode, Episode)


def test_greedy_levels_are_the_argmax_of_each_concept():
    torch.manual_seed(0)
    agent = AllocationAgent(concept_channels=2, num_levels=4, num_classes=3, hidden=8)
    features, labels_d = torch.randn(1, 2, 2, 2), torch.tensor([[[0, 2], [2, 2]]])
    levels = agent.greedy_levels(features, labels_d)
    for step, c in enumerate([0, 2]):
        mask = (labels_d == c).float().unsqueeze(1)
        expected = agent(features * mask, mask, torch.tensor([step])).argmax().item()
        assert levels[0, c].item() == expected
    assert levels[0, 1].item() == 0


# --- packets ---------------------------------------------------------------------------------------
def test_semantic_packet_round_trip_and_rejections():
    labels_d = np.zeros((4, 6), dtype=np.uint8)
    labels_d[1:, 2:] = 9
    packet = pack_semantic(labels_d, {0: 1, 9: 5}, model_id=300)
    got = unpack_semantic(packet, model_id=300, shape=(4, 6), num_classes=19, num_levels=6)
    assert got.levels == {0: 1, 9: 5} and (got.labels_d == labels_d).all()
    assert packet[8:12] == bytes([0, 1, 9, 5])
    assert zlib.decompress(packet[12:], -15) == labels_d.tobytes()
    common = {"shape": (4, 6), "num_classes": 19, "num_levels": 6}
    assert unpack_semantic(packet, model_id=301, **common) is None                  # another model
    assert unpack_semantic(packet, model_id=300, shape=(4, 7), num_classes=19, num_levels=6) is None
    assert unpack_semantic(packet, model_id=300, shape=(4, 6), num_classes=9, num_levels=6) is None
    assert unpack_semantic(packet, model_id=300, shape=(4, 6), num_classes=19, num_levels=5) is None
    assert unpack_semantic(packet[:-1], model_id=300, **common) is None             # truncated Deflate
    lying = packet[:8] + bytes([0, 1, 8, 5]) + packet[12:]                          # table names a class not in s_d
    assert unpack_semantic(lying, model_id=300, **common) is None
    bomb = packet[:12] + zlib.compress(bytes(10**6), 9)[2:-4]                       # far more than h*w bytes
    assert unpack_semantic(bomb, model_id=300, **common) is None


def test_concept_packet_round_trip_and_length_check():
    packet = pack_concept(class_id=4, level=2, coder_id=1, payload=b"\x01\x02\x03", model_id=7)
    got = parse_concept(packet, model_id=7)
    assert (got.class_id, got.level, got.coder_id, got.payload) == (4, 2, 1, b"\x01\x02\x03")
    assert parse_concept(packet[:-1], model_id=7) is None and parse_concept(packet, model_id=8) is None


# --- codec -----------------------------------------------------------------------------------------
def _codec(**params) -> RLASCCodec:
    from simulation.testing import colour_teacher

    return RLASCCodec(_model(), teacher=colour_teacher(), name="tiny-rl-asc", **params)


@pytest.mark.parametrize("allocation", ["agent", "finest", 2])
def test_codec_passes_the_conformance_kit(allocation):
    assert check_codec(lambda: _codec(allocation=allocation), images=_images(2, 32, 48), num_damage_trials=2)


def test_codec_packets_and_concealment():
    codec = _codec(allocation="finest")
    images = _images(1, 32, 48)
    stream = codec.encode(images)[0]
    s_d = codec.model.semantic_map(codec.teacher.predict(images))[0]
    classes = s_d.unique().tolist()
    assert len(stream.packets) == 1 + len(classes)                                  # map + one packet per concept
    clean = codec.decode([stream.packets], image_size=(32, 48))
    assert clean.concealed_fraction == [0.0] and clean.failed == [False]
    # a lost concept packet = that concept at the coarsest level (what the agent does when it drops it)
    lost = codec.decode([[stream.packets[0], None, *stream.packets[2:]]], image_size=(32, 48))
    features, labels_d, levels = codec.analyse(images)
    levels[0, classes[0]] = 0
    quantized = codec.model.quantizer(features, codec.model.level_map(labels_d, levels))
    expected = codec.model.decode(quantized, labels_d).image.clamp(0, 1)
    assert torch.allclose(lost.images, expected, atol=1e-6)
    assert lost.concealed_fraction == [pytest.approx(1 / len(stream.packets))]
    gone = codec.decode([[None, *stream.packets[1:]]], image_size=(32, 48))
    assert gone.failed == [True] and gone.concealed_fraction == [1.0] and torch.all(gone.images == 0.5)


def test_range_coder_option_decodes_the_same_within_a_word_of_huffman():
    huffman, ranged = _codec(allocation="finest"), _codec(allocation="finest", coder="range")
    images = _images(2, 32, 48)
    a, b = huffman.encode(images), ranged.encode(images)
    for sa, sb in zip(a, b):
        assert sa.packets[0] == sb.packets[0] and len(sa.packets) == len(sb.packets)
        for pa, pb in zip(sa.packets[1:], sb.packets[1:]):  # range coding: at most one 32-bit word above Huffman
            assert pb[5] == 2 and pa[5] == 1 and len(pb) <= len(pa) + 4
    out_a = huffman.decode([s.packets for s in a], image_size=(32, 48)).images
    out_b = ranged.decode([s.packets for s in b], image_size=(32, 48)).images
    assert torch.equal(out_a, out_b)


def test_codec_errors_are_one_line():
    with pytest.raises(UserError, match="level 9 does not exist"):
        _codec(allocation=9)
    with pytest.raises(UserError, match="multiples of 8"):
        _codec().encode(torch.rand(1, 3, 30, 48))
    with pytest.raises(Exception, match="allocation"):
        _codec(allocation="best")


# --- training --------------------------------------------------------------------------------------
def _training_config(tmp_path, *, allocation="agent"):
    from gosvae.training.rl_asc import RLASCTrainingConfig

    return RLASCTrainingConfig.model_validate({
        "task": "codec", "name": f"tiny-rl-asc-{allocation}", "teacher": "tiny-teacher", "allocation": allocation,
        "model": {"arch": "rl-asc", **{k: v for k, v in TINY.items() if k != "num_classes"}},
        "stages": {"one": 3, "two": 2, "three": 2},
        "gan": {"disc_channels": 4, "disc_layers": 2},
        "agent": {"batch_size": 2, "update_every": 2},
        "data": {"train": {"name": "synthetic-urban", "split": "train", "num_images": 2, "size": [64, 64]},
                 "val": {"name": "synthetic-urban", "split": "val", "num_images": 2, "size": [64, 64]},
                 "crop": [64, 64], "cache_dir": str(tmp_path / "cache")},
        "optim": {"batch_size": 2, "warmup_steps": 0},
        "run": {"out_dir": str(tmp_path / f"run-{allocation}"), "num_threads": 1, "log_every": 1, "checkpoint_every": 3},
    })


def test_training_runs_the_three_stages_and_exports_a_codec(tmp_path, tiny_zoo):
    from gosvae.training.rl_asc import train_rl_asc

    config = _training_config(tmp_path)
    export = tmp_path / "export"
    row = train_rl_asc(config, config_path="tiny.yaml", command="gosvae train tiny.yaml", export_zoo=True, zoo_dir=export)
    log = (tmp_path / "run-agent" / "log.csv").read_text().splitlines()
    header = log[0].split(",")
    stages = [float(r.split(",")[header.index("stage")]) for r in log[1:]]
    assert stages == [1, 1, 1, 2, 2, 3, 3]
    agent_rows = [r.split(",")[header.index("agent_loss")] for r in log[1:]]
    assert [bool(v) for v in agent_rows] == [False, False, False, True, True, True, False]   # stage III: every 2nd step
    codec = build_codec("rl-asc", model=str(export))
    assert codec.allocation == "agent" and codec.describe()["scheme"] == "RL-ASC"
    assert codec.entry.quality["payload_kb"] == pytest.approx(row["payload_kb"])
    from safetensors.torch import load_file

    stored = load_file(str(export / "tiny-rl-asc-agent.safetensors"))
    assert stored["symbol_counts"].dtype == torch.float32 and stored["encoder.project.weight"].dtype == torch.float16
    final = torch.load(tmp_path / "run-agent" / "final_model.pt", weights_only=True)["model"]
    assert torch.equal(stored["symbol_counts"], final["symbol_counts"])     # counts kept exactly (float16 tops at 65504)
    images = _images(1, 64, 64)
    out = codec.decode([codec.encode(images)[0].packets], image_size=(64, 64))
    assert out.images.shape == (1, 3, 64, 64) and out.failed == [False]


def test_simplified_training_skips_the_agent(tmp_path, tiny_zoo):
    from gosvae.training.rl_asc import train_rl_asc

    config = _training_config(tmp_path, allocation="finest")
    train_rl_asc(config, config_path="tiny.yaml", command="-")
    log = (tmp_path / "run-finest" / "log.csv").read_text().splitlines()
    header = log[0].split(",")
    assert [float(r.split(",")[header.index("stage")]) for r in log[1:]] == [1, 1, 1, 3, 3]
    assert all(not r.split(",")[header.index("agent_loss")] for r in log[1:])
    assert math.isfinite(float(log[-1].split(",")[header.index("total")]))


def test_simplified_run_continues_from_another_runs_stage_one(tmp_path, tiny_zoo):
    from gosvae.training.rl_asc import RLASCTrainingConfig, train_rl_asc

    agent_run = _training_config(tmp_path)
    train_rl_asc(agent_run, config_path="tiny.yaml", command="-")
    stage1 = torch.load(tmp_path / "run-agent" / "stage1.pt", weights_only=True)["state"]
    assert any(k.startswith("discriminator.") for k in stage1)
    data = _training_config(tmp_path, allocation="finest").model_dump()
    data.update(init_from=str(tmp_path / "run-agent" / "stage1.pt"), stages={"one": 0, "two": 0, "three": 0})
    train_rl_asc(RLASCTrainingConfig.model_validate(data), config_path="tiny.yaml", command="-")
    final = torch.load(tmp_path / "run-finest" / "final_model.pt", weights_only=True)["model"]
    for key, value in final.items():
        if key != "symbol_counts":                                        # refitted at the end
            assert torch.equal(value, stage1[f"model.{key}"]), key
