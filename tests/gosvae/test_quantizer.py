"""Tests of gosvae.models.quantizer: lookup, straight-through gradient, VQ terms, usage, prior."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
import torch

from gosvae.errors import UserError
from gosvae.models.quantizer import VectorQuantizer, perplexity_from_counts


def _quantizer(k: int = 37, d: int = 8, **options) -> VectorQuantizer:
    return VectorQuantizer(codebook_size=k, embedding_dim=d, **options)


def _latents_on_codes(quantizer: VectorQuantizer, codes: list[int], *, noise: float = 0.0) -> torch.Tensor:
    """(1, D, 1, n) latents sitting on the given codewords (plus a little noise)."""
    vectors = quantizer.codebook.detach()[codes] + noise * torch.randn(len(codes), quantizer.embedding_dim)
    return vectors.t().reshape(1, quantizer.embedding_dim, 1, len(codes)).clone()


@pytest.mark.parametrize("chunk_elements", [37 * 3, 2**22])  # 3 rows per block, and a single block
def test_nearest_codeword_equals_brute_force(chunk_elements: int) -> None:
    quantizer = _quantizer(chunk_elements=chunk_elements)
    z = torch.randn(2, 8, 5, 7)
    indices = quantizer(z).indices

    vectors = z.permute(0, 2, 3, 1).reshape(-1, 8).double().numpy()
    codebook = quantizer.codebook.detach().double().numpy()
    distances = ((vectors[:, None, :] - codebook[None, :, :]) ** 2).sum(-1)  # (N, K), float64
    brute = distances.argmin(1)
    chosen = indices.flatten().numpy()
    assert indices.shape == (2, 5, 7) and indices.dtype == torch.int64
    # The chosen codeword is at the minimum distance for every vector ...
    np.testing.assert_allclose(distances[np.arange(len(chosen)), chosen], distances.min(1), rtol=1e-5, atol=1e-6)
    # ... and is the brute-force one wherever the minimum is not a near-tie.
    sorted_distances = np.sort(distances, axis=1)
    clear = sorted_distances[:, 1] - sorted_distances[:, 0] > 1e-4
    assert clear.sum() > 0.9 * len(clear)
    np.testing.assert_array_equal(chosen[clear], brute[clear])


def test_z_q_holds_the_codewords_and_lookup_inverts_indices() -> None:
    quantizer = _quantizer()
    out = quantizer(torch.randn(2, 8, 3, 4))
    expected = quantizer.codebook.detach()[out.indices].permute(0, 3, 1, 2)
    torch.testing.assert_close(out.z_q, expected, rtol=0, atol=0)  # what the receiver rebuilds
    torch.testing.assert_close(quantizer.lookup(out.indices), expected, rtol=0, atol=0)
    assert out.z_q.shape == (2, 8, 3, 4)


def test_straight_through_gradient_equals_gradient_wrt_z_q() -> None:
    quantizer = _quantizer()
    z = torch.randn(2, 8, 3, 4, requires_grad=True)
    out = quantizer(z)
    loss = (out.z_q**3).sum() + (out.z_q * torch.randn_like(out.z_q)).sum()  # non-linear in z_q
    grad_z_q, = torch.autograd.grad(loss, out.z_q, retain_graph=True)
    loss.backward()
    torch.testing.assert_close(z.grad, grad_z_q)
    # The loss on z_q depends on z only through the identity: the codebook gets nothing from it.
    assert quantizer.codebook.grad is None


def test_codebook_and_commitment_terms_match_direct_formulas() -> None:
    quantizer = _quantizer()
    z = torch.randn(2, 8, 3, 4, requires_grad=True)
    out = quantizer(z)
    z_np = z.detach().permute(0, 2, 3, 1).double().numpy()
    e_np = quantizer.codebook.detach().double().numpy()[out.indices.numpy()]
    squared_error = np.mean((z_np - e_np) ** 2)
    assert quantizer.beta == 0.25
    np.testing.assert_allclose(out.codebook_loss.item(), squared_error, rtol=1e-5)
    np.testing.assert_allclose(out.commitment_loss.item(), 0.25 * squared_error, rtol=1e-5)

    out.codebook_loss.backward(retain_graph=True)  # reaches the codebook only
    assert z.grad is None and quantizer.codebook.grad is not None
    quantizer.codebook.grad = None
    out.commitment_loss.backward()  # reaches the encoder output only
    assert quantizer.codebook.grad is None
    expected_grad = 2 * 0.25 * (z_np - e_np) / z_np.size  # d/dz of beta * mean((z - e)^2)
    np.testing.assert_allclose(z.grad.permute(0, 2, 3, 1).numpy(), expected_grad, rtol=1e-4, atol=1e-9)


def test_perplexity_of_uniform_usage_is_k_and_of_one_code_is_one() -> None:
    quantizer = _quantizer(k=16)
    out = quantizer(_latents_on_codes(quantizer, list(range(16))))  # each code exactly once
    np.testing.assert_allclose(out.perplexity.item(), 16.0, rtol=1e-6)
    out = quantizer(_latents_on_codes(quantizer, [3] * 10))
    np.testing.assert_allclose(out.perplexity.item(), 1.0, rtol=1e-6)
    quantizer.usage_counts.fill_(5)
    np.testing.assert_allclose(quantizer.perplexity().item(), 16.0, rtol=1e-12)


def test_perplexity_from_counts_matches_scipy_entropy() -> None:
    counts = np.array([0, 3, 1, 7, 0, 2], dtype=np.int64)
    expected = np.exp(scipy.stats.entropy(counts))  # natural log, normalises the counts
    np.testing.assert_allclose(perplexity_from_counts(torch.from_numpy(counts)).item(), expected, rtol=1e-12)
    assert perplexity_from_counts(torch.zeros(4)).item() == 0.0


def test_usage_counts_accumulate_in_training_mode_only() -> None:
    quantizer = _quantizer(k=10)
    codes = [1, 1, 4, 7, 7, 7]
    quantizer.train()
    quantizer(_latents_on_codes(quantizer, codes, noise=1e-4))
    quantizer(_latents_on_codes(quantizer, codes, noise=1e-4))
    np.testing.assert_array_equal(quantizer.usage_counts.numpy(), 2 * np.bincount(codes, minlength=10))
    assert quantizer.usage_counts.dtype == torch.int64
    quantizer.eval()
    quantizer(_latents_on_codes(quantizer, codes))
    np.testing.assert_array_equal(quantizer.usage_counts.numpy(), 2 * np.bincount(codes, minlength=10))
    np.testing.assert_array_equal(quantizer.dead_codes().numpy(), [0, 2, 3, 5, 6, 8, 9])
    np.testing.assert_array_equal(quantizer.dead_codes(3).numpy(), [0, 2, 3, 4, 5, 6, 8, 9])


def test_restart_replaces_exactly_the_dead_codes_with_encoder_outputs() -> None:
    quantizer = _quantizer(k=10, d=4)
    quantizer.train()
    quantizer(_latents_on_codes(quantizer, [0, 1, 2, 3, 4, 0, 2]))
    before = quantizer.codebook.detach().clone()
    samples = torch.randn(2, 4, 3, 5)  # 30 encoder outputs
    restarted = quantizer.restart_dead_codes(samples, generator=torch.Generator().manual_seed(1))

    np.testing.assert_array_equal(restarted.numpy(), [5, 6, 7, 8, 9])
    after = quantizer.codebook.detach()
    torch.testing.assert_close(after[:5], before[:5], rtol=0, atol=0)
    rows = samples.permute(0, 2, 3, 1).reshape(-1, 4)
    matches = [int(torch.nonzero((rows == after[code]).all(dim=1)).flatten()[0]) for code in range(5, 10)]
    assert len(set(matches)) == 5  # five distinct encoder outputs, drawn without replacement
    assert int(quantizer.usage_counts.sum()) == 0  # a new counting window starts

    again = _quantizer(k=10, d=4)  # same draw with the same seed
    again.load_state_dict({**quantizer.state_dict(), "codebook": before,
                           "usage_counts": torch.tensor([2, 1, 2, 1, 1, 0, 0, 0, 0, 0])})
    again.restart_dead_codes(samples, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(again.codebook.detach(), after, rtol=0, atol=0)


def test_restart_with_fewer_samples_than_dead_codes_draws_with_replacement() -> None:
    quantizer = _quantizer(k=6, d=3)
    samples = torch.randn(2, 3)
    restarted = quantizer.restart_dead_codes(samples, generator=torch.Generator().manual_seed(0))
    assert restarted.numel() == 6  # nothing used yet: every code is dead
    for row in quantizer.codebook.detach():
        assert any(torch.equal(row, sample) for sample in samples)


def test_index_prior_is_smoothed_normalised_float64_and_persistent() -> None:
    quantizer = _quantizer(k=5, d=2)
    np.testing.assert_allclose(quantizer.index_prior.numpy(), np.full(5, 0.2))
    counts = np.array([10, 0, 3, 0, 7])
    quantizer.set_index_prior(torch.from_numpy(counts))
    prior = quantizer.index_prior
    assert prior.dtype == torch.float64 and bool((prior > 0).all())
    np.testing.assert_allclose(prior.sum().item(), 1.0, rtol=0, atol=1e-15)
    np.testing.assert_allclose(prior.numpy(), (counts + 1.0) / (counts.sum() + 5.0), rtol=1e-15)

    copy = _quantizer(k=5, d=2)
    copy.load_state_dict(quantizer.state_dict())
    assert "index_prior" in quantizer.state_dict()
    torch.testing.assert_close(copy.index_prior, prior, rtol=0, atol=0)
    # Casting the model keeps the entropy-coding prior bit-exact float64.
    copy.half()
    assert copy.codebook.dtype == torch.float16 and copy.index_prior.dtype == torch.float64
    torch.testing.assert_close(copy.index_prior, prior, rtol=0, atol=0)


def test_user_errors_are_one_line_and_specific() -> None:
    quantizer = _quantizer(k=5, d=2)
    with pytest.raises(UserError, match=r"5 entries"):
        quantizer.set_index_prior(torch.ones(4))
    with pytest.raises(UserError, match=r"non-negative"):
        quantizer.set_index_prior(torch.tensor([1.0, -1.0, 0.0, 0.0, 0.0]))
    with pytest.raises(UserError, match=r"\[0, 5\), found \[0, 5\]"):
        quantizer.lookup(torch.tensor([[[0, 5]]]))
    with pytest.raises(UserError, match=r"\(B, 2, h, w\)"):
        quantizer(torch.randn(1, 3, 2, 2))
    with pytest.raises(UserError, match=r"codebook_size"):
        VectorQuantizer(codebook_size=1, embedding_dim=2)
