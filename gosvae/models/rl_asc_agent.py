"""The bit-allocation agent of RL-ASC and its REINFORCE episode (Huang et al., arXiv 2208.04094, sec. IV).

An episode visits the semantic concepts of an image in turn (classes present in ``s_d``, by class
id), every concept starting at the coarsest level. At step ``t`` the agent π reads the state — the
concept's features ``f ⊙ s_d(m)``, its mask and the step index — and picks one of Q levels for that
concept. The reward of the step is the decrease of the distortion (perceptual + semantic loss of the
image rebuilt with the levels chosen so far) minus a rate term (the paper's eq. 13):

    r_t = η (D_{t-1} - D_t) - λ (R_t - R_{t-1})        R in bits per pixel of the image

REINFORCE with discount γ (0.99) maximises the expected return; the baseline is the mean return
of the batch at the same step (a variance reduction that leaves the gradient unbiased), and a
small entropy bonus keeps the policy exploring. This loop is short and tested; no RL library is
needed for a one-network policy gradient.

At inference the state does not depend on earlier actions, so the greedy levels of all concepts
come from one batched pass (:meth:`AllocationAgent.greedy_levels`).

Example
-------
>>> agent = AllocationAgent(concept_channels=4, num_levels=6, num_classes=11)
>>> logits = agent(torch.rand(3, 4, 8, 8), torch.ones(3, 1, 8, 8), torch.tensor([0, 1, 2]))
>>> logits.shape
torch.Size([3, 6])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from gosvae.models.rl_asc_generator import labels_onehot

__all__ = ["AllocationAgent", "Episode", "discounted_returns", "reinforce_loss", "run_episode"]


class AllocationAgent(nn.Module):
    """π(level | concept features, mask, step index).

    Parameters
    ----------
    concept_channels : int
        ``n``.
    num_levels : int
        Q, the actions.
    num_classes : int
        ``m``: the longest episode (step indices 0 .. m-1).
    hidden : int
        Width of the convolutions and of the MLP.

    Input
    -----
    features : (P, n, h, w) float, the concept's features (zero outside its mask).
    masks : (P, 1, h, w) float in {0, 1}.
    steps : (P,) int64, the step index of each concept in its episode.

    Output
    ------
    (P, Q) float: action logits.
    """

    def __init__(self, *, concept_channels: int, num_levels: int, num_classes: int, hidden: int = 64) -> None:
        super().__init__()
        self.num_levels, self.num_classes = int(num_levels), int(num_classes)
        self.config = {"concept_channels": int(concept_channels), "num_levels": int(num_levels),
                       "num_classes": int(num_classes), "hidden": int(hidden)}
        self.conv = nn.Sequential(
            nn.Conv2d(concept_channels + 1, hidden, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(hidden, hidden, 3, stride=2, padding=1), nn.ReLU(inplace=True),
        )
        self.step_embedding = nn.Embedding(num_classes, hidden)
        self.head = nn.Sequential(nn.Linear(3 * hidden + 1, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, num_levels))

    def forward(self, features: torch.Tensor, masks: torch.Tensor, steps: torch.Tensor) -> torch.Tensor:
        h = self.conv(torch.cat([features, masks], dim=1))
        area = masks.flatten(1).mean(dim=1, keepdim=True)
        pooled = torch.cat([h.flatten(2).mean(dim=2), h.flatten(2).amax(dim=2), self.step_embedding(steps), area], dim=1)
        return self.head(pooled)

    @torch.no_grad()
    def greedy_levels(self, features: torch.Tensor, labels_d: torch.Tensor) -> torch.Tensor:
        """The most probable level of every concept: ``features`` (B, n, h, w), ``labels_d``
        (B, h, w) → (B, m) int64 (classes not present: level 0)."""
        states = concept_states(features, labels_d, self.num_classes)
        levels = torch.zeros(features.shape[0], self.num_classes, dtype=torch.int64)
        if states.images.numel():
            choice = self(states.features, states.masks, states.steps).argmax(dim=1).cpu()
            levels[states.images.cpu(), states.classes.cpu()] = choice
        return levels


@dataclass
class ConceptStates:
    """Every (image, concept) of a batch in episode order: ``images``, ``classes``, ``steps`` (P,)
    int64; ``features`` (P, n, h, w) (zero outside the mask); ``masks`` (P, 1, h, w)."""

    images: torch.Tensor
    classes: torch.Tensor
    steps: torch.Tensor
    features: torch.Tensor
    masks: torch.Tensor


def concept_states(features: torch.Tensor, labels_d: torch.Tensor, num_classes: int) -> ConceptStates:
    """The states of all concepts of a batch (classes present in ``labels_d``, by class id)."""
    onehot = labels_onehot(labels_d, num_classes)  # (B, m, h, w)
    present = onehot.flatten(2).amax(dim=2) > 0  # (B, m)
    images, classes = present.nonzero(as_tuple=True)
    steps = (present.cumsum(dim=1) - 1)[images, classes]
    masks = onehot[images, classes].unsqueeze(1)
    return ConceptStates(images=images, classes=classes, steps=steps, features=features[images] * masks, masks=masks)


@dataclass
class Episode:
    """One batched episode: ``levels`` (B, m) chosen; per step ``log_probs``, ``rewards``,
    ``entropy`` (B, T) and ``valid`` (B, T) bool (image b has a t-th concept); ``distortion``
    and ``bpp`` (B, T + 1) along the way (column 0: every concept at the coarsest level)."""

    levels: torch.Tensor
    log_probs: torch.Tensor
    rewards: torch.Tensor
    entropy: torch.Tensor
    valid: torch.Tensor
    distortion: torch.Tensor
    bpp: torch.Tensor


def run_episode(
    agent: AllocationAgent,
    *,
    features: torch.Tensor,
    labels_d: torch.Tensor,
    evaluate: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
    eta: float,
    lmbda: float,
    sample: bool = True,
    generator: torch.Generator | None = None,
) -> Episode:
    """Run the agent over the concepts of a batch, one concept per step, all images at once.

    Parameters
    ----------
    features : (B, n, h, w) float, the encoder's features (detached).
    labels_d : (B, h, w) int64, ``s_d``.
    evaluate : callable
        ``levels (B, m) -> (distortion (B,), bpp (B,))``: rebuild the images with these levels and
        measure them (no gradient needed).
    eta, lmbda : float
        Weights of the distortion decrease and of the rate in the reward.
    sample : bool
        Sample actions (training) or take the most probable (evaluation).
    """
    batch, m = features.shape[0], agent.num_classes
    states = concept_states(features, labels_d, m)
    num_steps = int(states.steps.max()) + 1 if states.steps.numel() else 0
    levels = torch.zeros(batch, m, dtype=torch.int64)
    log_probs = torch.zeros(batch, num_steps)
    entropy = torch.zeros(batch, num_steps)
    rewards = torch.zeros(batch, num_steps)
    valid = torch.zeros(batch, num_steps, dtype=torch.bool)
    distortion, bpp = evaluate(levels)
    distortions, rates = [distortion.detach().cpu().float()], [bpp.detach().cpu().float()]
    for t in range(num_steps):
        at = (states.steps == t).nonzero(as_tuple=True)[0]
        logits = agent(states.features[at], states.masks[at], states.steps[at])
        dist = torch.distributions.Categorical(logits=logits)
        if sample:
            u = torch.rand(len(at), 1, generator=generator)
            action = (dist.probs.detach().cpu().cumsum(dim=1) < u).sum(dim=1).clamp_max(agent.num_levels - 1)
        else:
            action = logits.detach().argmax(dim=1).cpu()
        rows = states.images[at].cpu()
        levels[rows, states.classes[at].cpu()] = action
        log_probs[rows, t] = dist.log_prob(action.to(logits.device)).cpu()
        entropy[rows, t] = dist.entropy().cpu()
        valid[rows, t] = True
        new_distortion, new_bpp = evaluate(levels)
        new_distortion, new_bpp = new_distortion.detach().cpu().float(), new_bpp.detach().cpu().float()
        step_reward = eta * (distortions[-1] - new_distortion) - lmbda * (new_bpp - rates[-1])
        rewards[:, t] = torch.where(valid[:, t], step_reward, torch.zeros(()))
        distortions.append(new_distortion)
        rates.append(new_bpp)
    return Episode(levels=levels, log_probs=log_probs, rewards=rewards, entropy=entropy, valid=valid,
                   distortion=torch.stack(distortions, dim=1), bpp=torch.stack(rates, dim=1))


def discounted_returns(rewards: torch.Tensor, *, gamma: float) -> torch.Tensor:
    """``G_t = Σ_k γ^k r_{t+k}`` along dim 1: (B, T) → (B, T)."""
    returns = torch.zeros_like(rewards)
    running = torch.zeros(rewards.shape[0], dtype=rewards.dtype)
    for t in range(rewards.shape[1] - 1, -1, -1):
        running = rewards[:, t] + gamma * running
        returns[:, t] = running
    return returns


def reinforce_loss(episode: Episode, *, gamma: float = 0.99, entropy_weight: float = 0.01) -> torch.Tensor:
    """REINFORCE with a per-step batch-mean baseline: scalar ``-mean(A_t log π(a_t)) - β H``."""
    returns = discounted_returns(episode.rewards, gamma=gamma)
    valid = episode.valid.float()
    counts = valid.sum(dim=0).clamp_min(1)
    baseline = (returns * valid).sum(dim=0) / counts
    advantage = (returns - baseline) * valid
    num = valid.sum().clamp_min(1)
    return -(advantage.detach() * episode.log_probs).sum() / num - entropy_weight * (episode.entropy * valid).sum() / num
