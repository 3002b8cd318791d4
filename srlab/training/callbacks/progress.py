"""A rich progress bar that costs nothing measurable per training step."""

from __future__ import annotations

from lightning.pytorch.callbacks import RichProgressBar


class StepProgressBar(RichProgressBar):
    """Lightning's :class:`~lightning.pytorch.callbacks.RichProgressBar`, updated every
    ``every_n_steps`` training steps and redrawn at most ``refresh_rate`` times a second.

    The stock bar updates its task and metrics on every step and redraws from a background thread
    ``refresh_rate`` times a second; on a CPU whose cores are all busy with the network, that
    thread's Python work preempts a compute thread and stalls the step. Measured on SRCNN 9-1-5
    (2-core CPU, bf16, srlab's step on a fixed batch against the bare loop, windows interleaved
    as ``python -m srlab.bench`` does): 0.95-0.97 with the stock bar at 10 redraws a second,
    0.97-0.98 without any bar (README, "Performance and defaults"). The step count shown still
    advances every ``every_n_steps`` steps, and validation and epoch ends update it as before.

    Args:
        refresh_rate: redraws per second at most (Lightning's meaning for the rich bar).
        every_n_steps: training steps between updates of the bar and its metrics (the loss shown
            is the last one logged; :class:`~srlab.training.lit_module.SRModule` logs it on exactly
            these steps).
        leave, theme, console_kwargs: as :class:`~lightning.pytorch.callbacks.RichProgressBar`.
    """

    def __init__(self, refresh_rate: int = 2, every_n_steps: int = 10, **kwargs) -> None:
        super().__init__(refresh_rate=refresh_rate, **kwargs)
        if every_n_steps < 1:
            raise ValueError(f"every_n_steps must be at least 1, got {every_n_steps}")
        self.every_n_steps = int(every_n_steps)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        # global_step already counts this step here, as SRModule's logging decision does.
        step, max_steps = trainer.global_step, trainer.max_steps
        last = batch_idx + 1 >= trainer.num_training_batches or 0 < max_steps <= step
        if step % self.every_n_steps == 0 or last or trainer.should_stop:
            super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
