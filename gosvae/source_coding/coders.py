"""Entropy coders for runs of codebook indices: range, Huffman and fixed-length.

All three share one interface, :class:`IndexCoder`:

- ``encode(symbols)``: ``(n,)`` integers in ``[0, K)`` → ``bytes``;
- ``decode(data, *, count)``: ``bytes`` → ``(count,)`` int64 in ``[0, K)``, or
  :class:`CorruptPayloadError` when ``data`` is not exactly what ``encode`` produces for some
  ``count`` symbols.

The last point makes the coders usable on a lossy link: besides the errors the libraries raise,
each decoder re-checks that the payload is *canonical* (re-encoding the decoded symbols gives the
same bytes, or, for the fixed-length code, the length matches and the padding bits are zero).
A range decoder fed garbage still returns plausible symbols; this check is what turns most such
garbage into a detected error. What it cannot catch: a corruption that happens to produce another
canonical payload (likely for the fixed-length code, whose every bit pattern is valid, and common
for Huffman codes, which resynchronise), and a wrong ``count``: the payloads do not delimit
themselves, so decoding *more* symbols than were encoded may succeed (the extra ones come from the
zero padding). ``count`` must come from a trusted place, here the validated slice header.

The range and Huffman coders use `constriction <https://bamler-lab.github.io/constriction/>`_
with the model's index prior ``(K,)``; the fixed-length code needs only ``K``.

Example
-------
>>> prior = np.array([0.7, 0.2, 0.05, 0.05])
>>> coder = build_coder("range", prior=prior)
>>> data = coder.encode(np.array([0, 0, 1, 3, 0]))
>>> coder.decode(data, count=5).tolist()
[0, 0, 1, 3, 0]
"""

from __future__ import annotations

import abc
from contextlib import contextmanager
from typing import ClassVar, Iterator

import constriction
import numpy as np

from gosvae.errors import UserError
from gosvae.source_coding.header import CODER_IDS

CODER_NAMES_ORDERED: tuple[str, ...] = ("range", "huffman", "fixed")
"""The coder names accepted by :func:`build_coder`."""


class CorruptPayloadError(ValueError):
    """A payload that no valid encoding of the requested number of symbols produces."""


def as_prior(prior: np.ndarray, *, name: str = "prior") -> np.ndarray:
    """Check an index prior and return it as a normalised float64 array.

    Parameters
    ----------
    prior : array_like, (K,), float
        Probabilities of the ``K >= 2`` codebook indices, all finite and ``> 0``.
    name : str
        What to call the array in error messages.

    Returns
    -------
    np.ndarray, (K,), float64
        ``prior / prior.sum()``.

    Raises
    ------
    UserError
        Wrong shape, fewer than 2 entries, or entries that are not finite and positive.
    """
    p = np.asarray(prior, dtype=np.float64)
    if p.ndim != 1 or p.shape[0] < 2:
        raise UserError(f"{name}: expected a 1-D array of K >= 2 probabilities, got shape {p.shape}")
    if not np.all(np.isfinite(p)) or np.any(p <= 0):
        bad = int(np.flatnonzero(~(np.isfinite(p) & (p > 0)))[0])
        raise UserError(f"{name}: every probability must be finite and > 0, entry {bad} is {float(p[bad])!r}")
    return p / p.sum()


def _as_symbols(symbols: np.ndarray, num_symbols: int) -> np.ndarray:
    s = np.asarray(symbols)
    if s.ndim != 1 or not (np.issubdtype(s.dtype, np.integer) or s.size == 0):
        raise UserError(f"symbols: expected a 1-D integer array, got shape {s.shape} dtype {s.dtype}")
    if s.size and (s.min() < 0 or s.max() >= num_symbols):
        raise UserError(f"symbols: values must lie in [0, {num_symbols}), found [{s.min()}, {s.max()}]")
    return s.astype(np.int64, copy=False)


@contextmanager
def _library_errors_as_corrupt_payload() -> Iterator[None]:
    """Turn whatever constriction raises on bad data into :class:`CorruptPayloadError`.

    constriction raises ``ValueError``/``KeyError`` on bad input, and a Rust panic surfaces as
    ``pyo3_runtime.PanicException``, which derives from ``BaseException``, not ``Exception``.
    """
    try:
        yield
    except CorruptPayloadError:
        raise
    except Exception as exc:
        raise CorruptPayloadError(f"{type(exc).__name__}: {exc}") from exc
    except BaseException as exc:
        if type(exc).__name__ != "PanicException":
            raise
        raise CorruptPayloadError(f"constriction panicked: {exc}") from exc


class IndexCoder(abc.ABC):
    """Interface of the entropy coders for runs of indices in ``[0, K)``.

    Attributes
    ----------
    name : str
        ``"range"``, ``"huffman"`` or ``"fixed"``.
    coder_id : int
        The id written in slice headers (:data:`~gosvae.source_coding.header.CODER_IDS`).
    num_symbols : int
        ``K``, the alphabet size.
    """

    name: ClassVar[str]
    coder_id: ClassVar[int]
    num_symbols: int

    def encode(self, symbols: np.ndarray) -> bytes:
        """Encode indices.

        Parameters
        ----------
        symbols : np.ndarray, (n,), int
            Values in ``[0, K)``.

        Returns
        -------
        bytes
            The payload; ``b""`` when ``n == 0``.
        """
        return self._encode(_as_symbols(symbols, self.num_symbols))

    def decode(self, data: bytes, *, count: int) -> np.ndarray:
        """Decode ``count`` indices from a payload made by :meth:`encode`.

        Parameters
        ----------
        data : bytes
            The payload.
        count : int
            Number of indices it holds.

        Returns
        -------
        np.ndarray, (count,), int64
            Values in ``[0, K)``.

        Raises
        ------
        CorruptPayloadError
            ``data`` is not the encoding of ``count`` indices.
        """
        if count < 0:
            raise ValueError(f"count must be >= 0, got {count}")
        with _library_errors_as_corrupt_payload():
            symbols = self._decode(bytes(data), count)
        if symbols.shape != (count,) or (count and (symbols.min() < 0 or symbols.max() >= self.num_symbols)):
            raise CorruptPayloadError(f"decoded {symbols.shape} symbols outside [0, {self.num_symbols})")
        return symbols

    @abc.abstractmethod
    def _encode(self, symbols: np.ndarray) -> bytes:
        """Encode checked int64 symbols."""

    @abc.abstractmethod
    def _decode(self, data: bytes, count: int) -> np.ndarray:
        """Decode ``count`` symbols; raise anything on bad data."""

    def _require_canonical(self, symbols: np.ndarray, data: bytes) -> np.ndarray:
        if self._encode(symbols) != data:
            raise CorruptPayloadError(f"{self.name} payload is not the encoding of the symbols it decodes to")
        return symbols

    def __repr__(self) -> str:
        return f"{type(self).__name__}(K={self.num_symbols})"


class RangeCoder(IndexCoder):
    """Range coding of i.i.d. indices under the model's index prior (constriction).

    The payload is constriction's sequence of 32-bit words written big-endian, without its
    trailing zero bytes: the range decoder reads missing words as zeros, so the stripped bytes
    cost nothing, and the payload is within a few bytes of ``-sum(log2 prior[symbols]) / 8``.

    Parameters
    ----------
    prior : np.ndarray, (K,), float
        Index probabilities, all ``> 0`` (see :func:`as_prior`). Encoder and decoder must use
        the same array. constriction quantises it to 24-bit fixed point (``perfect=False``,
        its fast and recommended approximation).
    """

    name = "range"
    coder_id = CODER_IDS["range"]

    def __init__(self, prior: np.ndarray) -> None:
        p = as_prior(prior)
        self.num_symbols = p.shape[0]
        self._model = constriction.stream.model.Categorical(p, perfect=False)

    def _encode(self, symbols: np.ndarray) -> bytes:
        encoder = constriction.stream.queue.RangeEncoder()
        encoder.encode(symbols.astype(np.int32), self._model)
        return encoder.get_compressed().astype(">u4").tobytes().rstrip(b"\x00")

    def _decode(self, data: bytes, count: int) -> np.ndarray:
        padded = data + bytes(-len(data) % 4)
        words = np.frombuffer(padded, dtype=">u4").astype(np.uint32)
        decoder = constriction.stream.queue.RangeDecoder(words)
        symbols = np.asarray(decoder.decode(self._model, count), dtype=np.int64).reshape(count)
        return self._require_canonical(symbols, data)


class HuffmanCoder(IndexCoder):
    """Huffman coding with a code built from the model's index prior (constriction).

    The payload is the code-word bit stream (constriction fills each 32-bit word from its least
    significant bit; written little-endian, the stream reads front to back) cut to whole bytes.
    Each index costs the integer length of its code word, so the payload is below
    ``entropy + 1`` bit per index.

    constriction exposes Huffman coding one symbol per call, so encoding and decoding loop in
    Python (about 0.5 µs per index).

    Parameters
    ----------
    prior : np.ndarray, (K,), float
        Index probabilities, all ``> 0`` (see :func:`as_prior`); ties between equal
        probabilities are broken by index order, the same on both sides.
    """

    name = "huffman"
    coder_id = CODER_IDS["huffman"]

    def __init__(self, prior: np.ndarray) -> None:
        p = as_prior(prior)
        self.num_symbols = p.shape[0]
        self._encoder_tree = constriction.symbol.huffman.EncoderHuffmanTree(p)
        self._decoder_tree = constriction.symbol.huffman.DecoderHuffmanTree(p)

    def _encode(self, symbols: np.ndarray) -> bytes:
        encoder = constriction.symbol.QueueEncoder()
        for symbol in symbols.tolist():
            encoder.encode_symbol(symbol, self._encoder_tree)
        words, num_bits = encoder.get_compressed_and_bitrate()
        return np.asarray(words, dtype="<u4").tobytes()[: (num_bits + 7) // 8]

    def _decode(self, data: bytes, count: int) -> np.ndarray:
        padded = data + bytes(-len(data) % 4)
        decoder = constriction.symbol.QueueDecoder(np.frombuffer(padded, dtype="<u4").astype(np.uint32))
        symbols = np.fromiter(
            (decoder.decode_symbol(self._decoder_tree) for _ in range(count)), dtype=np.int64, count=count
        )
        return self._require_canonical(symbols, data)


class FixedLengthCoder(IndexCoder):
    """Every index on ``ceil(log2 K)`` bits, most significant bit first, zero-padded to a byte.

    numpy's bit packing does the work; no prior is needed.

    Parameters
    ----------
    num_symbols : int
        ``K >= 2``.
    """

    name = "fixed"
    coder_id = CODER_IDS["fixed"]

    def __init__(self, num_symbols: int) -> None:
        if int(num_symbols) < 2:
            raise UserError(f"fixed-length coder: K must be >= 2, got {num_symbols}")
        self.num_symbols = int(num_symbols)
        self.bits_per_index = (self.num_symbols - 1).bit_length()
        self._weights = 1 << np.arange(self.bits_per_index - 1, -1, -1, dtype=np.int64)

    def payload_bytes(self, count: int) -> int:
        """Payload size in bytes for ``count`` indices: ``ceil(count * ceil(log2 K) / 8)``."""
        return -(-count * self.bits_per_index // 8)

    def _encode(self, symbols: np.ndarray) -> bytes:
        bits = (symbols[:, None] & self._weights) != 0
        return np.packbits(bits.ravel()).tobytes()

    def _decode(self, data: bytes, count: int) -> np.ndarray:
        if len(data) != self.payload_bytes(count):
            raise CorruptPayloadError(f"fixed payload of {len(data)} bytes, expected {self.payload_bytes(count)}")
        bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8))
        used = count * self.bits_per_index
        if bits[used:].any():
            raise CorruptPayloadError("fixed payload has non-zero padding bits")
        symbols = bits[:used].reshape(count, self.bits_per_index).astype(np.int64) @ self._weights
        if count and symbols.max() >= self.num_symbols:
            raise CorruptPayloadError(f"fixed payload holds an index >= K={self.num_symbols}")
        return symbols


def build_coder(name: str, *, prior: np.ndarray) -> IndexCoder:
    """The coder called ``name`` for the index prior ``prior``.

    Parameters
    ----------
    name : str
        ``"range"``, ``"huffman"`` or ``"fixed"``.
    prior : np.ndarray, (K,), float
        Index probabilities, all ``> 0`` (only ``K`` matters to ``"fixed"``).

    Returns
    -------
    IndexCoder

    Raises
    ------
    UserError
        Unknown name or invalid prior.
    """
    if name == "range":
        return RangeCoder(prior)
    if name == "huffman":
        return HuffmanCoder(prior)
    if name == "fixed":
        return FixedLengthCoder(as_prior(prior).shape[0])
    raise UserError(f"unknown coder '{name}' (known: {', '.join(CODER_NAMES_ORDERED)})")
