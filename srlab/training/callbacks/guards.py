"""Guarded training: never silently train on a NaN/inf loss.

:class:`NonFiniteLossGuard` looks at every loss before ``backward``:

* ``action="stop"`` (default): raises :class:`NonFiniteLossError` naming the step, the value and the
  last good checkpoint (weights are still those of the previous step; nothing is saved);
* ``action="skip"``: drops the batch — its gradients are discarded before the optimizer step, so
  weights and optimizer moments stay untouched (the step counter and LR schedule still advance) —
  and stops anyway after ``max_consecutive_skips`` non-finite losses in a row (a diverged run).
"""

from __future__ import annotations

import logging
import math
import os

import lightning as L
import torch

from srlab.errors import SrlabError

log = logging.getLogger(__name__)


class NonFiniteLossError(SrlabError, FloatingPointError):
    """Training produced a NaN or infinite loss; the message names the step and the checkpoint."""


def last_good_checkpoint(trainer: L.Trainer) -> str | None:
    """The most recently written checkpoint file of the trainer's ModelCheckpoint callbacks."""
    paths = set()
    for callback in trainer.checkpoint_callbacks:
        for attr in ("_last_checkpoint_saved", "last_model_path", "best_model_path"):
            path = getattr(callback, attr, None)
            if isinstance(path, str) and path and os.path.isfile(path):
                paths.add(path)
    return max(paths, key=os.path.getmtime) if paths else None


class NonFiniteLossGuard(L.Callback):
    """Stop on (or skip) batches whose training loss is NaN or infinite.

    Args:
        action: ``"stop"`` or ``"skip"``.
        max_consecutive_skips: with ``"skip"``, stop after this many non-finite losses in a row.
    """

    def __init__(self, action: str = "stop", max_consecutive_skips: int = 10) -> None:
        if action not in ("stop", "skip"):
            raise ValueError(f"NonFiniteLossGuard action must be 'stop' or 'skip', got {action!r}")
        self.action = action
        self.max_consecutive_skips = int(max_consecutive_skips)
        self.skipped_total = 0
        self._consecutive = 0
        self._skip_this_step = False

    def on_before_backward(
        self, trainer: L.Trainer, pl_module: L.LightningModule, loss: torch.Tensor
    ) -> None:
        value = float(loss.detach())  # one host sync per step: cheap next to an SR training step
        if math.isfinite(value):
            self._consecutive = 0
            return
        self._consecutive += 1
        if self.action == "stop" or self._consecutive > self.max_consecutive_skips:
            raise NonFiniteLossError(self._message(trainer, value))
        self._skip_this_step = True
        self.skipped_total += 1
        log.warning(
            "train/loss is %s at global step %d: batch skipped (%d skipped so far)",
            value,
            trainer.global_step,
            self.skipped_total,
        )

    def on_before_optimizer_step(
        self, trainer: L.Trainer, pl_module: L.LightningModule, optimizer
    ) -> None:
        if not self._skip_this_step:
            return
        self._skip_this_step = False
        if getattr(trainer.precision_plugin, "scaler", None) is not None:
            return  # fp16 GradScaler skips steps with non-finite gradients itself (and needs them)
        # Parameters without a gradient are left alone by torch optimizers (weights and moments).
        optimizer.zero_grad(set_to_none=True)

    def _message(self, trainer: L.Trainer, value: float) -> str:
        ckpt = last_good_checkpoint(trainer)
        where = f"last good checkpoint: {ckpt}" if ckpt else "no checkpoint was written yet"
        repeated = (
            f" ({self._consecutive} non-finite losses in a row)" if self.action == "skip" else ""
        )
        return (
            f"train/loss is {value} at global step {trainer.global_step} "
            f"(epoch {trainer.current_epoch}){repeated}; training stopped, {where}. "
            "Lower model.optimizer.lr or fix the data, then resume with resume=auto, or set "
            "callbacks.nonfinite_guard.action=skip to drop such batches."
        )

    def state_dict(self) -> dict:
        return {"skipped_total": self.skipped_total}

    def load_state_dict(self, state_dict: dict) -> None:
        self.skipped_total = int(state_dict.get("skipped_total", 0))
