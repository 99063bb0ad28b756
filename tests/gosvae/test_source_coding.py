"""Slices, entropy coders, concealment and bit accounting of gosvae.source_coding."""

from __future__ import annotations

import math
import struct
import zlib

import numpy as np
import pytest
from scipy.stats import entropy as scipy_entropy

from gosvae.errors import UserError
from gosvae.source_coding import (
    HEADER_SIZE,
    CorruptPayloadError,
    FixedLengthCoder,
    SliceHeader,
    SliceStatus,
    build_coder,
    conceal_rows,
    decode_index_map,
    encode_index_map,
    ideal_code_length_bits,
    order0_entropy_bits,
    packet_bits,
    parse_slice_header,
    payload_bits,
    short_model_id,
)
from gosvae.source_coding.header import SliceHeaderError

CODERS = ("range", "huffman", "fixed")


def _skewed_prior(num_symbols: int, *, exponent: float = 1.2) -> np.ndarray:
    """Zipf-like prior, all entries > 0."""
    p = 1.0 / np.arange(1, num_symbols + 1) ** exponent
    return p / p.sum()


def _random_map(rng: np.random.Generator, shape: tuple[int, int], prior: np.ndarray) -> np.ndarray:
    return rng.choice(prior.shape[0], size=shape, p=prior)


def _distinct_rows_map(height: int, width: int, num_symbols: int) -> np.ndarray:
    """Rows that all differ from each other and from the prior's argmax row (index 0)."""
    return (np.arange(height)[:, None] * width + np.arange(width)[None, :]) % (num_symbols - 1) + 1


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("coder", CODERS)
@pytest.mark.parametrize(
    ("shape", "num_symbols", "rows_per_slice"),
    [((1, 1), 2, 1), ((7, 5), 3, 3), ((13, 9), 12000, 4), ((16, 16), 512, 16), ((5, 11), 17, 8),
     ((9, 4), 256, 2)],
)
def test_round_trip_is_exact(coder, shape, num_symbols, rows_per_slice):
    rng = np.random.default_rng(zlib.crc32(repr((coder, shape, num_symbols)).encode()))
    prior = rng.dirichlet(np.full(num_symbols, 0.5)) + 1e-12
    indices = _random_map(rng, shape, prior / prior.sum())
    indices.flat[0] = num_symbols - 1  # the extremes of the alphabet are always present
    indices.flat[-1] = 0
    packets = encode_index_map(indices, prior=prior, coder=coder, rows_per_slice=rows_per_slice, model_id=513)

    assert len(packets) == math.ceil(shape[0] / rows_per_slice)
    decoded = decode_index_map(packets, shape=shape, prior=prior, model_id=513)
    assert decoded.indices.dtype == np.int64 and decoded.indices.shape == shape
    np.testing.assert_array_equal(decoded.indices, indices)
    assert not decoded.concealed_rows.any()
    assert decoded.slice_status == (SliceStatus.OK,) * len(packets)


def test_slice_headers_describe_the_row_cut():
    indices = np.zeros((11, 3), dtype=np.int64)
    packets = encode_index_map(indices, prior=_skewed_prior(4), coder="fixed", rows_per_slice=4, model_id=9)
    headers = [parse_slice_header(p) for p in packets]
    assert [(h.slice_id, h.first_row, h.num_rows) for h in headers] == [(0, 0, 4), (1, 4, 4), (2, 8, 3)]
    assert {h.model_id for h in headers} == {9}
    assert [h.payload_length for h in headers] == [len(p) - HEADER_SIZE for p in packets]


@pytest.mark.parametrize("coder", CODERS)
def test_packets_in_any_order_decode_exactly(coder):
    rng = np.random.default_rng(3)
    prior = _skewed_prior(40)
    indices = _random_map(rng, (10, 6), prior)
    packets = encode_index_map(indices, prior=prior, coder=coder, rows_per_slice=3)
    shuffled = [packets[i] for i in rng.permutation(len(packets))]
    decoded = decode_index_map(shuffled, shape=(10, 6), prior=prior)
    np.testing.assert_array_equal(decoded.indices, indices)


@pytest.mark.parametrize("coder", CODERS)
def test_coder_round_trip_and_empty_input(coder):
    prior = _skewed_prior(300)
    index_coder = build_coder(coder, prior=prior)
    symbols = np.random.default_rng(4).choice(300, size=257, p=prior)
    np.testing.assert_array_equal(index_coder.decode(index_coder.encode(symbols), count=257), symbols)
    assert index_coder.encode(np.zeros(0, dtype=np.int64)) == b""
    assert index_coder.decode(b"", count=0).shape == (0,)


# --------------------------------------------------------------------------- rates


@pytest.fixture(scope="module")
def skewed_map_and_empirical_prior():
    """A 128×256 map drawn from a Zipf law on 64 words, and its empirical distribution."""
    rng = np.random.default_rng(2024)
    indices = _random_map(rng, (128, 256), _skewed_prior(64, exponent=1.1))
    counts = np.bincount(indices.ravel(), minlength=64)
    assert counts.min() > 0  # the empirical prior must be a valid (all > 0) prior
    return indices, counts / counts.sum(), counts


def test_order0_entropy_matches_scipy(skewed_map_and_empirical_prior):
    indices, empirical, counts = skewed_map_and_empirical_prior
    closed_form = indices.size * scipy_entropy(counts, base=2)
    assert order0_entropy_bits(indices) == pytest.approx(closed_form, rel=1e-12)
    assert ideal_code_length_bits(indices, prior=empirical) == pytest.approx(closed_form, rel=1e-9)
    assert order0_entropy_bits(np.full((3, 3), 7)) == 0.0
    assert order0_entropy_bits(np.array([[0, 1], [2, 3]])) == pytest.approx(4 * 2.0)


def test_range_coder_payload_within_one_percent_of_entropy(skewed_map_and_empirical_prior):
    indices, empirical, counts = skewed_map_and_empirical_prior
    entropy_bits = indices.size * scipy_entropy(counts, base=2)
    packets = encode_index_map(indices, prior=empirical, coder="range", rows_per_slice=32)
    bits = payload_bits(packets)
    assert entropy_bits <= bits <= 1.01 * entropy_bits


def test_huffman_payload_within_one_bit_per_index_of_entropy(skewed_map_and_empirical_prior):
    indices, empirical, counts = skewed_map_and_empirical_prior
    entropy_bits = indices.size * scipy_entropy(counts, base=2)
    packets = encode_index_map(indices, prior=empirical, coder="huffman", rows_per_slice=32)
    bits = payload_bits(packets)
    assert entropy_bits <= bits < entropy_bits + indices.size + 8 * len(packets)  # + byte padding


def test_huffman_is_exact_for_a_dyadic_prior():
    # For p = (1/2, 1/4, ..., 1/2^(K-1), 1/2^(K-1)) the code word of index k has -log2 p_k bits.
    num_symbols = 9
    prior = np.array([2.0 ** -(k + 1) for k in range(num_symbols - 1)] + [2.0 ** -(num_symbols - 1)])
    rng = np.random.default_rng(5)
    indices = _random_map(rng, (12, 20), prior)
    rows_per_slice = 5
    packets = encode_index_map(indices, prior=prior, coder="huffman", rows_per_slice=rows_per_slice)
    code_lengths = -np.log2(prior)
    expected_bytes = [
        math.ceil(code_lengths[indices[r:r + rows_per_slice]].sum() / 8) for r in range(0, 12, rows_per_slice)
    ]
    assert [len(p) - HEADER_SIZE for p in packets] == expected_bytes


@pytest.mark.parametrize(("num_symbols", "bits_per_index"), [(2, 1), (3, 2), (256, 8), (257, 9), (12000, 14)])
def test_fixed_length_uses_ceil_log2_k_bits_per_index(num_symbols, bits_per_index):
    shape, rows_per_slice = (7, 5), 3
    indices = np.random.default_rng(6).integers(0, num_symbols, size=shape)
    packets = encode_index_map(indices, prior=np.ones(num_symbols), coder="fixed", rows_per_slice=rows_per_slice)
    rows = [min(rows_per_slice, shape[0] - r) for r in range(0, shape[0], rows_per_slice)]
    assert [len(p) - HEADER_SIZE for p in packets] == [math.ceil(n * shape[1] * bits_per_index / 8) for n in rows]


def test_fixed_length_bit_layout_is_msb_first():
    # K=5 → 3 bits: 1, 4, 2 → 001 100 010 → 00110001 0(0000000)
    assert FixedLengthCoder(5).encode(np.array([1, 4, 2])) == bytes([0b00110001, 0b00000000])


def test_packet_bits_splits_header_and_payload():
    prior = _skewed_prior(16)
    packets = encode_index_map(np.arange(60).reshape(6, 10) % 16, prior=prior, coder="range", rows_per_slice=4)
    split = packet_bits(packets)
    assert split.header_bits == 8 * HEADER_SIZE * len(packets)
    assert split.total_bits == 8 * sum(len(p) for p in packets)
    assert split.payload_bits == payload_bits(packets) == split.total_bits - split.header_bits
    assert 0 < split.header_fraction < 1
    assert packet_bits([packets[0], None]).total_bits == 8 * len(packets[0])


# --------------------------------------------------------------------------- concealment


@pytest.mark.parametrize("coder", CODERS)
def test_most_probable_concealment_fills_lost_rows_with_argmax(coder):
    num_symbols, height, width = 50, 11, 6
    prior = _skewed_prior(num_symbols)[::-1].copy()  # argmax is the last index
    indices = _distinct_rows_map(height, width, num_symbols) - 1  # values in [0, K-2]: never the argmax
    packets = encode_index_map(indices, prior=prior, coder=coder, rows_per_slice=3)
    packets[0] = packets[2] = None  # rows 0-2 and 6-8
    decoded = decode_index_map(packets, shape=(height, width), prior=prior, concealment="most-probable")

    lost_rows = {0, 1, 2, 6, 7, 8}
    for row in range(height):
        if row in lost_rows:
            assert decoded.concealed_rows[row]
            assert (decoded.indices[row] == num_symbols - 1).all()
        else:
            assert not decoded.concealed_rows[row]
            np.testing.assert_array_equal(decoded.indices[row], indices[row])
    assert decoded.slice_status == (SliceStatus.MISSING, SliceStatus.OK, SliceStatus.MISSING, SliceStatus.OK)


@pytest.mark.parametrize("coder", CODERS)
def test_copy_above_concealment_copies_nearest_received_row(coder):
    num_symbols, height, width = 50, 14, 4
    prior = _skewed_prior(num_symbols)  # argmax is index 0, absent from the map
    indices = _distinct_rows_map(height, width, num_symbols)
    packets = encode_index_map(indices, prior=prior, coder=coder, rows_per_slice=3)  # 5 slices, last 2 rows
    packets[0] = packets[2] = packets[3] = None  # rows 0-2, 6-8, 9-11 lost
    decoded = decode_index_map(packets, shape=(height, width), prior=prior, concealment="copy-above")

    expected_source = {0: None, 1: None, 2: None, 6: 5, 7: 5, 8: 5, 9: 5, 10: 5, 11: 5}
    for row in range(height):
        if row not in expected_source:
            np.testing.assert_array_equal(decoded.indices[row], indices[row])
            assert not decoded.concealed_rows[row]
            continue
        assert decoded.concealed_rows[row]
        source = expected_source[row]
        expected = np.zeros(width, dtype=np.int64) if source is None else indices[source]
        np.testing.assert_array_equal(decoded.indices[row], expected)
    assert decoded.concealed_fraction == pytest.approx(9 / 14)
    assert decoded.num_slices_ok == 2


def test_everything_lost_gives_most_probable_map():
    prior = _skewed_prior(8)[::-1].copy()
    for mode in ("most-probable", "copy-above"):
        decoded = decode_index_map([None, None], shape=(4, 3), prior=prior, concealment=mode)
        assert (decoded.indices == 7).all() and decoded.concealed_rows.all()
    decoded = decode_index_map([], shape=(4, 3), prior=prior)  # nothing even sent
    assert decoded.concealed_rows.all() and decoded.slice_status == ()


def test_conceal_rows_leaves_received_rows_and_input_untouched():
    indices = np.array([[5, 5], [1, 2], [9, 9], [3, 4]])
    before = indices.copy()
    out = conceal_rows(indices, received_rows=np.array([False, True, False, True]),
                       prior=np.array([0.1, 0.2, 0.6, 0.1]), mode="copy-above")
    assert out.tolist() == [[2, 2], [1, 2], [1, 2], [3, 4]]
    np.testing.assert_array_equal(indices, before)


# --------------------------------------------------------------------------- header validation


def test_header_byte_layout():
    header = SliceHeader(coder_id=1, model_id=0x1234, slice_id=3, first_row=24, num_rows=8, payload_length=70000)
    expected = bytes([0xA1, 1]) + struct.pack(">HHHH", 0x1234, 3, 24, 8) + (70000).to_bytes(3, "big")
    assert header.to_bytes() == expected and len(expected) == HEADER_SIZE
    assert parse_slice_header(expected + bytes(70000)) == header


@pytest.mark.parametrize(("height", "rows_per_slice"), [(1, 1), (7, 3), (8, 4), (10, 9), (5, 8), (64, 1), (65, 16)])
def test_headers_of_every_cut_are_consistent(height, rows_per_slice):
    packets = encode_index_map(np.zeros((height, 2), dtype=np.int64), prior=np.ones(3), coder="fixed",
                               rows_per_slice=rows_per_slice, model_id=77)
    for packet in packets:
        header = parse_slice_header(packet)
        assert header.problem(map_height=height, num_slices=len(packets), model_id=77) is None
        assert header.problem(map_height=height, num_slices=len(packets), model_id=78) is not None
        assert header.problem(map_height=height + rows_per_slice, num_slices=len(packets), model_id=77) is not None


def _with_header(packet: bytes, **changes: int) -> bytes:
    header = parse_slice_header(packet)
    fields = {name: getattr(header, name) for name in
              ("coder_id", "model_id", "slice_id", "first_row", "num_rows", "payload_length")}
    fields.update(changes)
    return SliceHeader(**fields).to_bytes() + packet[HEADER_SIZE:]


@pytest.mark.parametrize(
    "damage",
    [
        lambda p: bytes([0xA2]) + p[1:],                 # header version 2
        lambda p: bytes([0x51]) + p[1:],                 # wrong magic
        lambda p: p[:1] + bytes([7]) + p[2:],            # unknown coder id
        lambda p: _with_header(p, model_id=6),           # another model
        lambda p: _with_header(p, slice_id=5),           # slice id beyond the 4 sent
        lambda p: _with_header(p, slice_id=2),           # slice id inconsistent with first row
        lambda p: _with_header(p, first_row=4),          # first row off the cut
        lambda p: _with_header(p, num_rows=0),           # empty slice
        lambda p: _with_header(p, num_rows=2),           # wrong row count
        lambda p: _with_header(p, payload_length=len(p)),  # length field ≠ bytes carried
        lambda p: p[:HEADER_SIZE - 1],                   # shorter than a header
    ],
)
def test_invalid_header_conceals_its_slice(damage):
    prior = _skewed_prior(20)
    indices = _distinct_rows_map(12, 5, 20)
    packets = encode_index_map(indices, prior=prior, coder="range", rows_per_slice=3, model_id=5)
    packets[1] = damage(packets[1])
    decoded = decode_index_map(packets, shape=(12, 5), prior=prior, model_id=5)
    assert decoded.slice_status[1] is SliceStatus.BAD_HEADER
    assert decoded.concealed_rows.tolist() == [False] * 3 + [True] * 3 + [False] * 6
    np.testing.assert_array_equal(decoded.indices[6:], indices[6:])


def test_receiver_expecting_another_map_rejects_every_slice():
    prior = _skewed_prior(300)
    indices = _random_map(np.random.default_rng(8), (8, 6), prior)
    for coder in CODERS:  # another height: the slice headers do not fit the expected cut
        packets = encode_index_map(indices, prior=prior, coder=coder, rows_per_slice=4)
        assert set(decode_index_map(packets, shape=(9, 6), prior=prior).slice_status) == {SliceStatus.BAD_HEADER}
    # Another width or K changes the fixed-length payload size (24 indices × 9 bits = 27 bytes).
    fixed_packets = encode_index_map(indices, prior=prior, coder="fixed", rows_per_slice=4)
    for shape, other_prior in (((8, 7), prior), ((8, 6), np.ones(600))):  # 28 × 9 bits; 24 × 10 bits
        decoded = decode_index_map(fixed_packets, shape=shape, prior=other_prior)
        assert set(decoded.slice_status) == {SliceStatus.BAD_PAYLOAD} and decoded.concealed_rows.all()


def test_second_packet_for_the_same_rows_is_a_duplicate():
    prior = _skewed_prior(20)
    indices = _distinct_rows_map(6, 4, 20)
    packets = encode_index_map(indices, prior=prior, coder="huffman", rows_per_slice=3)
    decoded = decode_index_map([packets[0], packets[0]], shape=(6, 4), prior=prior)
    assert decoded.slice_status == (SliceStatus.OK, SliceStatus.DUPLICATE)
    assert decoded.concealed_rows.tolist() == [False] * 3 + [True] * 3


@pytest.mark.parametrize("coder", CODERS)
def test_coders_reject_truncated_and_extended_payloads(coder):
    prior = _skewed_prior(100)
    index_coder = build_coder(coder, prior=prior)
    symbols = np.random.default_rng(9).choice(100, size=64, p=prior)
    data = index_coder.encode(symbols)
    damaged_payloads = [data[:-1], data + b"\x00", data + b"\x5a", data[1:]]
    if coder != "range":  # b"" is the range code of a run of index 0, a valid payload
        damaged_payloads.append(b"")
    for damaged in damaged_payloads:
        with pytest.raises(CorruptPayloadError):
            index_coder.decode(damaged, count=64)
    with pytest.raises(CorruptPayloadError):
        index_coder.decode(data, count=63)  # (more than encoded can pass: see the coders' docstring)


def test_fixed_coder_rejects_out_of_range_values_and_dirty_padding():
    coder = FixedLengthCoder(5)  # 3 bits per index
    with pytest.raises(CorruptPayloadError, match="K=5"):
        coder.decode(bytes([0b11100000]), count=1)  # 7 >= 5
    with pytest.raises(CorruptPayloadError, match="padding"):
        coder.decode(bytes([0b00100001]), count=1)


# --------------------------------------------------------------------------- argument errors


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"coder": "arith"}, "unknown coder 'arith'"),
        ({"prior": np.array([0.5, 0.0, 0.5])}, "entry 1 is 0.0"),
        ({"prior": np.array([1.0])}, "K >= 2"),
        ({"rows_per_slice": 0}, "rows_per_slice"),
        ({"model_id": 70000}, "model_id"),
        ({"indices": np.array([[0, 3]])}, r"\[0, K=3\)"),
        ({"indices": np.zeros(4, dtype=np.int64)}, "2-D integer"),
        ({"indices": np.zeros((2, 2))}, "2-D integer"),
        ({"coder": FixedLengthCoder(7)}, "K=7"),
    ],
)
def test_encode_rejects_bad_arguments(kwargs, message):
    arguments = {"indices": np.zeros((2, 2), dtype=np.int64), "prior": np.ones(3)} | kwargs
    indices = arguments.pop("indices")
    with pytest.raises(UserError, match=message):
        encode_index_map(indices, **arguments)


def test_decode_rejects_bad_arguments():
    prior = np.ones(4)
    with pytest.raises(UserError, match="concealment"):
        decode_index_map([None], shape=(2, 2), prior=prior, concealment="zeros")
    with pytest.raises(UserError, match="shape"):
        decode_index_map([None], shape=(0, 2), prior=prior)
    with pytest.raises(UserError, match="model_id"):
        decode_index_map([None], shape=(2, 2), prior=prior, model_id=-1)
    with pytest.raises(TypeError):
        decode_index_map(["not bytes"], shape=(2, 2), prior=prior)


def test_slice_header_rejects_short_packets_and_oversized_fields():
    with pytest.raises(SliceHeaderError, match="shorter"):
        parse_slice_header(b"\xa1\x02")
    with pytest.raises(ValueError, match="16 bits"):
        SliceHeader(coder_id=0, model_id=0, slice_id=0, first_row=70000, num_rows=1, payload_length=0)


def test_short_model_id_is_the_low_half_of_crc32():
    for name in ("gos-vae-star-r4", "vq-vae-r8", ""):
        assert short_model_id(name) == zlib.crc32(name.encode()) & 0xFFFF
    assert short_model_id("gos-vae-star-r4") != short_model_id("gos-vae-star-r8")


def test_range_code_of_a_run_of_index_zero_is_empty_and_decodes():
    # The decoder reads missing words as zeros, so the stripped tail of an all-zero slice is empty.
    prior = _skewed_prior(10)
    indices = np.zeros((4, 5), dtype=np.int64)
    indices[3] = 4
    packets = encode_index_map(indices, prior=prior, coder="range", rows_per_slice=2)
    assert len(packets[0]) == HEADER_SIZE and len(packets[1]) > HEADER_SIZE
    np.testing.assert_array_equal(decode_index_map(packets, shape=(4, 5), prior=prior).indices, indices)
