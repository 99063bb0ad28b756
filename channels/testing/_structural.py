"""Structural checks of the conformance kit: shapes and dtypes, noise forms, input validation,
reproducibility and the global random generators (see :mod:`channels.testing`)."""

from __future__ import annotations

import random
import sys
from typing import Any

import numpy as np
import torch

from channels.base import ChannelOutput
from channels.testing._setup import _Failed, _Setup


def _check_shapes(s: _Setup) -> str:
    x = s.symbols(s.small)
    original = x.clone()
    out = s.model(x, no=0.1, generator=torch.Generator().manual_seed(s.seed))
    if not isinstance(out, ChannelOutput):
        raise _Failed(f"forward returned {type(out).__name__}, not channels.base.ChannelOutput")
    problems = []
    for name in ("y", "h"):
        t = getattr(out, name)
        if not isinstance(t, torch.Tensor):
            problems.append(f"{name} is {type(t).__name__}, not a tensor")
        elif tuple(t.shape) != tuple(x.shape) or t.dtype != x.dtype or t.device != x.device:
            problems.append(f"{name} is {tuple(t.shape)} {t.dtype} on {t.device}, expected {tuple(x.shape)} "
                            f"{x.dtype} on {x.device}")
        elif not bool(torch.isfinite(t).all()):
            problems.append(f"{name} has non-finite values")
    no = out.no
    if not isinstance(no, torch.Tensor) or no.is_complex() or no.dtype != x.real.dtype or no.device != x.device:
        desc = f"{no.dtype} on {no.device}" if isinstance(no, torch.Tensor) else type(no).__name__
        problems.append(f"no is {desc}, expected a {x.real.dtype} tensor on {x.device}")
    else:
        try:
            torch.broadcast_shapes(no.shape, x.shape)
        except RuntimeError:
            problems.append(f"no of shape {tuple(no.shape)} does not broadcast to {tuple(x.shape)}")
        if not bool((torch.isfinite(no) & (no >= 0)).all()):
            problems.append("no has negative or non-finite values")
    if not torch.equal(x, original):
        problems.append("the input x was modified in place")
    if problems:
        raise _Failed("; ".join(problems))
    return f"y, h {x.dtype} like x, no {tuple(out.no.shape)} {out.no.dtype}"


def _check_noise_forms(s: _Setup) -> str:
    x, value = s.symbols(s.small), 0.3
    batch = x.shape[0]
    forms = {"0-d tensor": torch.tensor(value, dtype=s.real_dtype, device=s.device),
             "(B,)": torch.full((batch,), value, dtype=s.real_dtype, device=s.device),
             "(B, 1)": torch.full((batch, 1), value, dtype=s.real_dtype, device=s.device)}
    reference = s.run(x, value).y
    different = [n for n, no in forms.items() if not torch.allclose(s.run(x, no).y, reference, rtol=1e-5, atol=1e-6)]
    if different:
        raise _Failed(f"no given as {', '.join(different)} gives another output than the float {value}")
    return "float, 0-d, (B,) and (B, 1) noise variances give the same output"


def _check_input_validation(s: _Setup) -> str:
    x = s.symbols(s.small)
    accepted = []
    for name, inp, no in [("a real (B, N) input", x.real.contiguous(), 0.1), ("a 1-D input", x[0], 0.1),
                          ("no = -1", x, -1.0)]:
        try:
            s.model(inp, no=no, generator=torch.Generator().manual_seed(s.seed))
        except (ValueError, TypeError):
            continue
        accepted.append(name)
    if accepted:
        raise _Failed(f"accepted {', '.join(accepted)} without ValueError/TypeError")
    return "real input, 1-D input and negative no are rejected"


def _check_reproducibility(s: _Setup) -> str:
    x = s.symbols(s.small)
    first, second, other = s.run(x, 0.5), s.run(x, 0.5), s.run(x, 0.5, offset=1)
    problems = [f"{n} differs between two calls with the same seed" for n in ("y", "h", "no")
                if not torch.equal(getattr(first, n), getattr(second, n))]
    if torch.equal(first.y, other.y):
        problems.append("y is the same for two different seeds")
    if _is_random(first.h) and torch.equal(first.h, other.h):
        problems.append("h varies across rows but is the same for two different seeds (not drawn from the generator?)")
    if problems:
        raise _Failed("; ".join(problems))
    return "same seed: identical y, h, no; another seed: another y" + (" and h" if _is_random(first.h) else "")


def _rng_states() -> dict[str, Any]:
    np_state = np.random.get_state()
    states: dict[str, Any] = {"torch": torch.random.get_rng_state(), "python random": random.getstate(),
                              "numpy": (np_state[1].tobytes(), *np_state[2:])}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["torch.cuda"] = torch.stack(torch.cuda.get_rng_state_all())
    config = getattr(sys.modules.get("sionna.phy"), "config", None)
    if config is not None:  # Sionna creates its generators lazily: creating one counts as using it
        for device, generator in dict(getattr(config, "_torch_rngs", None) or {}).items():
            states[f"sionna torch rng ({device})"] = generator.get_state()
        np_rng, py_rng = getattr(config, "_np_rng", None), getattr(config, "_py_rng", None)
        states["sionna numpy rng"] = None if np_rng is None else repr(np_rng.bit_generator.state)
        states["sionna python rng"] = None if py_rng is None else py_rng.getstate()
    return states


def _same(a: Any, b: Any) -> bool:
    return torch.equal(a, b) if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) else a == b


def _check_global_rng(s: _Setup) -> str:
    x = s.symbols(s.small)
    saved = torch.random.get_rng_state()
    saved_cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else None
    try:
        torch.manual_seed(1)
        before = _rng_states()
        first = s.run(x, 0.5)
        after = _rng_states()
        torch.manual_seed(2)
        second = s.run(x, 0.5)
    finally:
        torch.random.set_rng_state(saved)
        if saved_cuda is not None:
            torch.cuda.set_rng_state_all(saved_cuda)
    used = [name for name in after if name not in before or not _same(before[name], after[name])]
    problems = [f"advanced the global RNG: {', '.join(used)}"] if used else []
    if not (torch.equal(first.y, second.y) and torch.equal(first.h, second.h)):
        problems.append("output changes with torch.manual_seed (draws from the global torch RNG)")
    if problems:
        raise _Failed("; ".join(problems))
    return "global torch/numpy/python/Sionna RNG states untouched; output independent of torch.manual_seed"


def _is_random(t: torch.Tensor) -> bool:
    return bool((t != t[:1]).any())
