"""Vector quantiser of the VQ-VAE: nearest-codeword lookup, straight-through gradient, usage, prior.

The encoder output ``z`` (B, D, h, w) is replaced, vector by vector, by its nearest codeword
``e_k`` of a learned codebook (K, D) (eq. 1-2 of Chao et al., GOS-VAE, squared L2 distance). The
codeword indices (B, h, w) are what the transmitter sends. Gradients pass straight through the
non-differentiable lookup, ``z_q = z + sg[e - z]``, and two terms train the codebook and keep the
encoder committed to it (eq. 4): ``codebook = ||sg[z] - e||^2`` and ``commitment = beta ||z - sg[e]||^2``.

Besides the lookup the module keeps, as buffers saved with the model:

- ``usage_counts`` (K,) int64: how often each code was chosen in training mode; it drives
  :meth:`VectorQuantizer.perplexity`, :meth:`VectorQuantizer.dead_codes` and
  :meth:`VectorQuantizer.restart_dead_codes`.
- ``index_prior`` (K,) float64: the probability of each index over the training data, shared by
  transmitter and receiver as the prior of the entropy coder (set with
  :meth:`VectorQuantizer.set_index_prior`). It stays float64 through ``.half()``/``.to(dtype)`` so
  that both ends always quantise the very same probabilities.

Example
-------
>>> quantizer = VectorQuantizer(codebook_size=512, embedding_dim=64)
>>> out = quantizer(torch.randn(2, 64, 8, 16))
>>> out.z_q.shape, out.indices.shape, out.indices.dtype
(torch.Size([2, 64, 8, 16]), torch.Size([2, 8, 16]), torch.int64)
>>> torch.equal(quantizer.lookup(out.indices), out.z_q)
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from gosvae.errors import UserError

DEFAULT_BETA: float = 0.25
"""Weight of the commitment term (eq. 4; van den Oord et al. and GOS-VAE use 0.25)."""


@dataclass
class QuantizerOutput:
    """What :class:`VectorQuantizer` returns.

    Attributes
    ----------
    z_q : torch.Tensor
        (B, D, h, w) float: the quantised latents, bit-exactly the chosen codewords, with the
        straight-through gradient (identity to ``z``, nothing to the codebook).
    indices : torch.Tensor
        (B, h, w) int64 in ``[0, K)``: the chosen codewords.
    codebook_loss : torch.Tensor
        Scalar: mean over all elements of ``(sg[z] - e)^2``; its gradient reaches the codebook only.
    commitment_loss : torch.Tensor
        Scalar: ``beta`` times the mean of ``(z - sg[e])^2``, **already weighted** by ``beta``; its
        gradient reaches the encoder only.
    perplexity : torch.Tensor
        Scalar: ``exp`` of the entropy of the code frequencies in this batch (1 to K; no gradient).
    """

    z_q: torch.Tensor
    indices: torch.Tensor
    codebook_loss: torch.Tensor
    commitment_loss: torch.Tensor
    perplexity: torch.Tensor


def perplexity_from_counts(counts: torch.Tensor) -> torch.Tensor:
    """``exp(H(p))`` with ``p = counts / sum(counts)``: the effective number of codes in use.

    Input: ``counts`` (K,) any real dtype, non-negative, not all zero. Output: scalar float64,
    between 1 (one code) and K (uniform use); 0 when ``counts`` are all zero.
    """
    counts = counts.to(torch.float64)
    total = counts.sum()
    if total <= 0:
        return torch.zeros((), dtype=torch.float64, device=counts.device)
    return torch.exp(torch.special.entr(counts / total).sum())


class VectorQuantizer(nn.Module):
    """Codebook of ``K`` vectors of size ``D`` with nearest-neighbour quantisation (eq. 1-2, 4).

    Parameters
    ----------
    codebook_size : int
        ``K``, the number of codewords (the alphabet of the transmitted indices).
    embedding_dim : int
        ``D``, the size of each codeword (the channel count of the encoder output).
    beta : float
        Weight of the commitment term, 0.25 by default (eq. 4).
    chunk_elements : int
        Distances are computed for blocks of vectors so that one block holds at most about this
        many (vector, codeword) distances (memory bound; 2**22 floats = 16 MB).

    Input
    -----
    z : torch.Tensor
        (B, D, h, w) float: encoder output.

    Output
    ------
    QuantizerOutput
        ``z_q`` (B, D, h, w), ``indices`` (B, h, w) int64, ``codebook_loss``, ``commitment_loss``
        (weighted by ``beta``) and ``perplexity`` scalars. In training mode the chosen indices are
        added to ``usage_counts``.
    """

    def __init__(
        self,
        *,
        codebook_size: int,
        embedding_dim: int,
        beta: float = DEFAULT_BETA,
        chunk_elements: int = 2**22,
    ) -> None:
        super().__init__()
        if codebook_size < 2:
            raise UserError(f"codebook_size must be at least 2, got {codebook_size}")
        if embedding_dim < 1:
            raise UserError(f"embedding_dim must be at least 1, got {embedding_dim}")
        if beta < 0:
            raise UserError(f"beta (commitment weight) must be >= 0, got {beta}")
        self.codebook_size = int(codebook_size)
        self.embedding_dim = int(embedding_dim)
        self.beta = float(beta)
        self.chunk_elements = int(chunk_elements)
        # Codewords start with unit expected norm (N(0, 1/D) entries), the scale of a freshly
        # initialised encoder output; dead codes are later moved onto encoder outputs.
        self.codebook = nn.Parameter(torch.randn(codebook_size, embedding_dim) / embedding_dim**0.5)
        self.register_buffer("usage_counts", torch.zeros(codebook_size, dtype=torch.int64))
        self.register_buffer(
            "index_prior", torch.full((codebook_size,), 1.0 / codebook_size, dtype=torch.float64)
        )

    # ----------------------------------------------------------------------------------------
    # quantisation
    # ----------------------------------------------------------------------------------------
    @torch.no_grad()
    def nearest_codewords(self, z_flat: torch.Tensor) -> torch.Tensor:
        """Index of the nearest codeword (squared L2) of each row of ``z_flat``.

        Input: ``z_flat`` (N, D) float. Output: (N,) int64 in ``[0, K)``.

        Written by hand rather than ``torch.cdist`` + ``argmin`` because (N, K) distances of a
        full batch do not fit in memory for K = 12000; rows are processed in blocks. The squared
        distance is ``||z||^2 - 2 z.e + ||e||^2``; ``||z||^2`` is the same for every codeword of a
        row and does not change the arg-min, so it is left out.
        """
        codebook = self.codebook.detach().to(z_flat.dtype)
        codeword_sq_norms = codebook.pow(2).sum(dim=1)
        rows_per_chunk = max(1, self.chunk_elements // self.codebook_size)
        indices = torch.empty(z_flat.shape[0], dtype=torch.int64, device=z_flat.device)
        for start in range(0, z_flat.shape[0], rows_per_chunk):
            block = z_flat[start : start + rows_per_chunk]
            scores = torch.addmm(codeword_sq_norms, block, codebook.t(), beta=1.0, alpha=-2.0)
            indices[start : start + rows_per_chunk] = scores.argmin(dim=1)
        return indices

    def forward(self, z: torch.Tensor) -> QuantizerOutput:
        if z.dim() != 4 or z.shape[1] != self.embedding_dim:
            raise UserError(
                f"quantizer input must be (B, {self.embedding_dim}, h, w), got {tuple(z.shape)}"
            )
        batch, dim, height, width = z.shape
        z_last = z.permute(0, 2, 3, 1)  # (B, h, w, D)
        indices = self.nearest_codewords(z_last.reshape(-1, dim)).view(batch, height, width)
        codewords = F.embedding(indices, self.codebook).to(z.dtype)  # (B, h, w, D), grad -> codebook

        codebook_loss = F.mse_loss(codewords, z_last.detach())
        commitment_loss = self.beta * F.mse_loss(z_last, codewords.detach())
        # Straight-through estimator, z_q = z + sg[e - z], written as e + (z - sg[z]): the same
        # value and gradient, but the value is bit-exactly the codeword (z - z is exactly 0),
        # so training sees what the receiver's ``lookup`` gives.
        z_q = codewords.detach() + (z_last - z_last.detach())

        counts = torch.bincount(indices.flatten(), minlength=self.codebook_size)
        if self.training:
            self.usage_counts += counts
        return QuantizerOutput(
            z_q=z_q.permute(0, 3, 1, 2),
            indices=indices,
            codebook_loss=codebook_loss,
            commitment_loss=commitment_loss,
            perplexity=perplexity_from_counts(counts).to(z.dtype),
        )

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        """Codewords of ``indices``: (B, h, w) int -> ``z_q`` (B, D, h, w) float.

        Raises :class:`UserError` if an index is outside ``[0, K)`` (e.g. a corrupted stream).
        """
        if indices.dtype.is_floating_point or indices.dim() != 3:
            raise UserError(
                f"indices must be (B, h, w) integers, got {tuple(indices.shape)} {indices.dtype}"
            )
        if indices.numel() and (int(indices.min()) < 0 or int(indices.max()) >= self.codebook_size):
            raise UserError(
                f"indices must lie in [0, {self.codebook_size}), found "
                f"[{int(indices.min())}, {int(indices.max())}]"
            )
        return F.embedding(indices.long(), self.codebook).permute(0, 3, 1, 2)

    # ----------------------------------------------------------------------------------------
    # codebook usage
    # ----------------------------------------------------------------------------------------
    def perplexity(self) -> torch.Tensor:
        """Perplexity of the accumulated ``usage_counts``: scalar float64 in [1, K] (0 if empty)."""
        return perplexity_from_counts(self.usage_counts)

    def dead_codes(self, threshold: float = 1.0) -> torch.Tensor:
        """Codes used fewer than ``threshold`` times since the last reset: (n_dead,) int64, sorted."""
        return torch.nonzero(self.usage_counts < threshold).flatten()

    def reset_usage(self) -> None:
        """Set ``usage_counts`` to zero (starts a new counting window)."""
        self.usage_counts.zero_()

    @torch.no_grad()
    def restart_dead_codes(
        self,
        z_samples: torch.Tensor,
        *,
        generator: torch.Generator | None = None,
        threshold: float = 1.0,
        reset_usage: bool = True,
    ) -> torch.Tensor:
        """Move each dead code onto a randomly drawn encoder output.

        Parameters
        ----------
        z_samples : torch.Tensor
            Encoder outputs, (N, D) or (B, D, h, w) float.
        generator : torch.Generator | None
            Source of the random draw, for reproducibility; the draw is made on the generator's
            device (a CPU generator serves a GPU run) and moved to ``z_samples``' device.
        threshold : float
            Codes with ``usage_counts < threshold`` are dead.
        reset_usage : bool
            Zero ``usage_counts`` afterwards so that the next check counts a fresh window.

        Output
        ------
        torch.Tensor
            (n_dead,) int64: the codes that were re-initialised (the others are untouched). Draws
            are without replacement when there are at least as many samples as dead codes.
            Optimiser state (e.g. Adam moments) of the moved rows is left to the caller.
        """
        dead = self.dead_codes(threshold)
        if dead.numel():
            samples = z_samples.detach()
            if samples.dim() == 4:
                samples = samples.permute(0, 2, 3, 1).reshape(-1, samples.shape[1])
            if samples.dim() != 2 or samples.shape[1] != self.embedding_dim or not samples.shape[0]:
                raise UserError(
                    f"z_samples must be (N, {self.embedding_dim}) or (B, {self.embedding_dim}, h, w) "
                    f"with N > 0, got {tuple(z_samples.shape)}"
                )
            num_samples = samples.shape[0]
            draw_on = generator.device if generator is not None else samples.device
            if num_samples >= dead.numel():
                chosen = torch.randperm(num_samples, generator=generator, device=draw_on)
                chosen = chosen[: dead.numel()]
            else:
                chosen = torch.randint(num_samples, (dead.numel(),), generator=generator, device=draw_on)
            chosen = chosen.to(samples.device)
            self.codebook[dead.to(self.codebook.device)] = samples[chosen].to(self.codebook)
        if reset_usage:
            self.reset_usage()
        return dead

    # ----------------------------------------------------------------------------------------
    # entropy-coding prior
    # ----------------------------------------------------------------------------------------
    @torch.no_grad()
    def set_index_prior(self, counts: torch.Tensor, *, smoothing: float = 1.0) -> None:
        """Set ``index_prior`` from index counts over the training data (Laplace smoothing).

        ``index_prior[k] = (counts[k] + smoothing) / (sum(counts) + K * smoothing)``: a (K,)
        float64 distribution with no zero, so every index stays encodable.

        Input: ``counts`` (K,) non-negative, any real dtype; ``smoothing`` > 0.
        """
        counts = torch.as_tensor(counts).to(torch.float64).flatten()
        if counts.numel() != self.codebook_size:
            raise UserError(
                f"index counts must have {self.codebook_size} entries (one per code), got {counts.numel()}"
            )
        if bool((counts < 0).any()) or not bool(torch.isfinite(counts).all()):
            raise UserError("index counts must be finite and non-negative")
        if smoothing <= 0:
            raise UserError(f"smoothing must be > 0 so that no index has probability 0, got {smoothing}")
        smoothed = counts + smoothing
        self.index_prior.copy_(smoothed / smoothed.sum())

    def _apply(self, fn: Callable[[torch.Tensor], torch.Tensor], recurse: bool = True) -> "VectorQuantizer":
        # ``module.half()`` / ``module.to(dtype)`` cast every floating buffer. The entropy-coding
        # prior must stay bit-identical float64 on transmitter and receiver, so it follows device
        # moves only. (No public torch hook excludes one buffer from dtype casts.)
        prior = self.index_prior
        super()._apply(fn, recurse)
        self.index_prior = prior.to(device=self.index_prior.device, dtype=torch.float64)
        return self

    def extra_repr(self) -> str:
        return f"codebook_size={self.codebook_size}, embedding_dim={self.embedding_dim}, beta={self.beta}"
