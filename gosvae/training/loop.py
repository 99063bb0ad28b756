"""The training loop shared by teachers and codecs: steps, logging, evaluation, checkpoints, resume.

The caller supplies ``train_step(step) -> dict`` of scalar losses for one optimisation step; the
loop averages them over ``log_every`` steps into ``log.csv``, calls ``evaluate()`` every
``eval_every`` steps (its numbers are logged too), and writes a resumable checkpoint every
``checkpoint_every`` steps and at the end. With ``resume=True`` it restarts from the checkpoint,
dropping log rows written after it, so a killed run resumes to the same result.
"""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn
from tqdm import tqdm

from gosvae.training.checkpoint import CsvLog, load_checkpoint, lr_lambda, save_checkpoint, truncate_log
from gosvae.training.config import OptimConfig, RunConfig


def build_optimizer(params, optim: OptimConfig) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW with linear warm-up and cosine decay (or constant) over ``optim.steps``."""
    optimizer = torch.optim.AdamW(params, lr=optim.lr, weight_decay=optim.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lr_lambda(warmup_steps=optim.warmup_steps, total_steps=optim.steps, schedule=optim.schedule)
    )
    return optimizer, scheduler


def run_training_loop(
    *,
    name: str,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LambdaLR,
    generator: torch.Generator,
    steps: int,
    run: RunConfig,
    train_step: Callable[[int], dict[str, float]],
    log_fields: list[str],
    evaluate: Callable[[], dict[str, float]] | None = None,
    resume: bool = False,
    set_train_mode: Callable[[], None] | None = None,
) -> float:
    """Run steps ``[start, steps)``; returns the wall time of this call in seconds."""
    out = Path(run.out_dir)
    ckpt_path = out / "checkpoint.pt"
    start = 0
    if resume and ckpt_path.is_file():
        start = load_checkpoint(ckpt_path, model=model, optimizer=optimizer, scheduler=scheduler, generator=generator)["step"]
        truncate_log(out / "log.csv", after_step=start)
    set_train_mode = set_train_mode or (lambda: model.train())
    set_train_mode()
    log = CsvLog(out / "log.csv", fields=["step", *log_fields, "lr", "seconds"])
    t0 = time.time()
    sums: dict[str, float] = defaultdict(float)
    progress = tqdm(range(start, steps), initial=start, total=steps, desc=name, dynamic_ncols=True)
    for step in progress:
        for key, value in train_step(step).items():
            sums[key] += value
        scheduler.step()
        done = step + 1
        row: dict[str, Any] = {}
        if done % run.log_every == 0:
            row = {k: v / run.log_every for k, v in sums.items()}
            sums.clear()
            progress.set_postfix({k: f"{v:.4g}" for k, v in list(row.items())[:3]})
        if evaluate is not None and done % run.eval_every == 0 and done < steps:
            row.update(evaluate())
            set_train_mode()
            progress.write(f"step {done}: " + ", ".join(f"{k} {v:.4g}" for k, v in row.items()))
        if row:
            log.write({"step": done, "lr": scheduler.get_last_lr()[0], "seconds": time.time() - t0, **row})
        if done % run.checkpoint_every == 0 or done == steps:
            save_checkpoint(ckpt_path, model=model, optimizer=optimizer, scheduler=scheduler, step=done, generator=generator)
    log.close()
    return time.time() - t0
