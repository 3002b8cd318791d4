"""Guarded training: never silently train on a NaN/inf loss.

:class:`NonFiniteLossGuard` looks at every loss before ``backward``:

* ``action="stop"`` (default): raises :class:`NonFiniteLossError` naming the step of the first
  non-finite loss, its value and the last good checkpoint. On CUDA the loss is not read back every
  step (a read stalls the host until the GPU has caught up, so the next step cannot be queued
  meanwhile): the steps' verdicts accumulate on the device and are read every
  ``check_every_n_steps`` steps, before every checkpoint is written (so no checkpoint ever holds
  weights trained on a non-finite loss), before validation and at the end of training. On the CPU
  reading a value costs nothing and every step is checked at once.
* ``action="skip"``: drops the batch — its gradients are discarded before the optimizer step, so
  weights and optimizer moments stay untouched (the step counter and LR schedule still advance) —
  and stops anyway after ``max_consecutive_skips`` non-finite losses in a row (a diverged run).
  Deciding before the optimizer step needs the value at every step, on any device.
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
        check_every_n_steps: with ``"stop"``, read the accumulated verdicts every this many steps
            (and before checkpoints, validation and the end of training); ``None`` = every step on
            the CPU (free there), every 50 steps on an accelerator.
    """

    def __init__(
        self,
        action: str = "stop",
        max_consecutive_skips: int = 10,
        check_every_n_steps: int | None = None,
    ) -> None:
        if action not in ("stop", "skip"):
            raise ValueError(f"NonFiniteLossGuard action must be 'stop' or 'skip', got {action!r}")
        if check_every_n_steps is not None and int(check_every_n_steps) < 1:
            raise ValueError(f"check_every_n_steps must be >= 1, got {check_every_n_steps}")
        self.action = action
        self.max_consecutive_skips = int(max_consecutive_skips)
        self.check_every_n_steps = None if check_every_n_steps is None else int(check_every_n_steps)
        self.skipped_total = 0
        self._consecutive = 0
        self._skip_this_step = False
        # Deferred check (action="stop"): 0-d device tensors, step/epoch = -1 while all is finite.
        self._first_step: torch.Tensor | None = None
        self._first_epoch: torch.Tensor | None = None
        self._first_value: torch.Tensor | None = None
        self._unchecked = 0

    def _interval(self, device: torch.device) -> int:
        if self.check_every_n_steps is not None:
            return self.check_every_n_steps
        return 1 if device.type == "cpu" else 50

    def on_before_backward(
        self, trainer: L.Trainer, pl_module: L.LightningModule, loss: torch.Tensor
    ) -> None:
        loss = loss.detach()
        if self.action == "stop" and self._interval(loss.device) > 1:
            self._record(trainer, loss)
            return
        value = float(loss)  # a host read: free on the CPU, inherent to "skip" on accelerators
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

    # ------------------------------------------------------------------ deferred check ("stop")
    def _record(self, trainer: L.Trainer, loss: torch.Tensor) -> None:
        """Remember the step, epoch and value of the first non-finite loss, on the device.

        Only device operations (no host read): ``torch.where`` with Python scalars passes them as
        kernel arguments, without a copy.
        """
        if self._first_step is None or self._first_step.device != loss.device:
            self._first_step = torch.full((), -1, dtype=torch.int64, device=loss.device)
            self._first_epoch = torch.full((), -1, dtype=torch.int64, device=loss.device)
            self._first_value = torch.zeros((), dtype=torch.float32, device=loss.device)
        new = (~torch.isfinite(loss)) & (self._first_step < 0)
        self._first_step = torch.where(new, trainer.global_step, self._first_step)
        self._first_epoch = torch.where(new, trainer.current_epoch, self._first_epoch)
        self._first_value = torch.where(new, loss.float(), self._first_value)
        self._unchecked += 1

    def check(self, trainer: L.Trainer) -> None:
        """Raise :class:`NonFiniteLossError` if a recorded loss was not finite (one host read)."""
        if self._first_step is None or not self._unchecked:
            return
        self._unchecked = 0
        step = int(self._first_step)
        if step >= 0:
            value = float(self._first_value)
            raise NonFiniteLossError(self._message(trainer, value, step, int(self._first_epoch)))

    def on_train_batch_end(self, trainer: L.Trainer, pl_module, outputs, batch, batch_idx) -> None:
        if (
            self._first_step is not None
            and trainer.global_step % self._interval(self._first_step.device) == 0
        ):
            self.check(trainer)

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module, checkpoint: dict) -> None:
        # Called while the checkpoint is assembled, before it is written: raising here keeps every
        # checkpoint on disk free of weights trained on a non-finite loss.
        self.check(trainer)

    def on_validation_start(self, trainer: L.Trainer, pl_module) -> None:
        self.check(trainer)

    def on_train_end(self, trainer: L.Trainer, pl_module) -> None:
        self.check(trainer)

    def _message(
        self,
        trainer: L.Trainer,
        value: float,
        step: int | None = None,
        epoch: int | None = None,
    ) -> str:
        ckpt = last_good_checkpoint(trainer)
        where = f"last good checkpoint: {ckpt}" if ckpt else "no checkpoint was written yet"
        repeated = (
            f" ({self._consecutive} non-finite losses in a row)" if self.action == "skip" else ""
        )
        step = trainer.global_step if step is None else step
        epoch = trainer.current_epoch if epoch is None else epoch
        return (
            f"train/loss is {value} at global step {step} "
            f"(epoch {epoch}){repeated}; training stopped, {where}. "
            "Lower model.optimizer.lr or fix the data, then resume with resume=auto, or set "
            "callbacks.nonfinite_guard.action=skip to drop such batches."
        )

    def state_dict(self) -> dict:
        return {"skipped_total": self.skipped_total}

    def load_state_dict(self, state_dict: dict) -> None:
        self.skipped_total = int(state_dict.get("skipped_total", 0))
