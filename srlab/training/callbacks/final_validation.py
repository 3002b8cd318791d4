"""Validate at the last training step, so every run ends with scored weights and a best.ckpt."""

from __future__ import annotations

import lightning as L


class ValidateAtMaxSteps(L.Callback):
    """When ``max_steps`` ends training in the middle of an epoch, validate that last step.

    Lightning only validates at epoch ends (or every ``val_check_interval``); a run stopped by
    ``max_steps`` mid-epoch would otherwise end with weights nobody scored, no ``best.ckpt`` and no
    final PSNR. Raising ``should_stop`` at the final step makes Lightning's own loop run validation
    there (and the checkpoint callbacks save after it). Needs ``min_epochs``/``min_steps`` unset or
    already reached.
    """

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module, outputs, batch, batch_idx: int
    ) -> None:
        if trainer.max_steps and trainer.max_steps > 0 and trainer.global_step >= trainer.max_steps:
            trainer.should_stop = True
