"""Where a training step's time goes, srlab's and the bare loop's, phase by phase.

:class:`StepBreakdown` is a Lightning callback that reads the clock at the hooks bounding each
phase of ``srlab.train``'s step; on CUDA it synchronises at every boundary (so each phase is
charged its own GPU work, and the step is slower than without the breakdown). On the CPU, whose
ops are synchronous, it only reads the clock and costs microseconds.

Phases (milliseconds per step, means over the measured steps):

* ``loader`` — from the end of one step to the start of the next, minus the degradation: the
  training loop's bookkeeping, the next batch from the DataLoader (crops and collation, or the
  wait for a worker), the host-to-device copy; with batches made ahead
  (:class:`~srlab.data.datamodule.BatchesAhead`, CPU default) also their LR and colour
  conversion, every ``data.batches_ahead`` steps;
* ``degradation`` — ``on_after_batch_transfer``: uint8 to float and the LR made on the device
  (0 with batches made ahead);
* ``forward`` — ``training_step``: colour conversion, network, loss, ``self.log`` (and the
  gradients' reset before it);
* ``backward``;
* ``optimizer`` — the optimizer step and every callback's end-of-step hook.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import lightning as L
import torch

from srlab.benchmark.common import scratch_dir, sync
from srlab.benchmark.training import StepClock, srlab_rate

PHASES = ("loader", "degradation", "forward", "backward", "optimizer")


class StepBreakdown(L.Callback):
    """Per-phase wall time of every training step after ``skip`` steps (see the module doc)."""

    latest: StepBreakdown | None = None

    def __init__(self, skip: int = 5, synchronize: bool | None = None) -> None:
        StepBreakdown.latest = self
        self.skip = int(skip)
        self.synchronize = synchronize
        self.steps: list[dict[str, float]] = []
        self._marks: dict[str, float] = {}
        self._last_end: float | None = None
        self._degrade_s = 0.0

    def _now(self, pl_module) -> float:
        sync_now = self.synchronize
        if sync_now is None:
            sync_now = pl_module.device.type == "cuda"
        if sync_now:
            sync(pl_module.device)
        # Minus the time of the bare loop's windows that StepClock interleaves between steps
        # (whichever of the two callbacks Lightning calls first): not srlab's time.
        return time.perf_counter() - StepClock.paused_s

    def setup(self, trainer: L.Trainer, pl_module, stage: str) -> None:
        datamodule = trainer.datamodule
        if datamodule is None or stage != "fit":
            return
        original = datamodule.on_after_batch_transfer

        def timed(batch, dataloader_idx):
            start = self._now(pl_module)
            out = original(batch, dataloader_idx)
            if trainer.training:
                self._degrade_s = self._now(pl_module) - start
            return out

        datamodule.on_after_batch_transfer = timed  # instance attribute: Lightning calls it

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._marks = {"start": self._now(pl_module)}

    def on_before_backward(self, trainer, pl_module, loss) -> None:
        self._marks["forward"] = self._now(pl_module)

    def on_after_backward(self, trainer, pl_module) -> None:
        self._marks["backward"] = self._now(pl_module)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        end = self._now(pl_module)
        marks, last = self._marks, self._last_end
        self._last_end = end
        if last is None or "backward" not in marks or trainer.global_step <= self.skip:
            return
        between = marks["start"] - last
        self.steps.append(
            {
                "loader": max(0.0, between - self._degrade_s),
                "degradation": self._degrade_s,
                "forward": marks["forward"] - marks["start"],
                "backward": marks["backward"] - marks["forward"],
                "optimizer": end - marks["backward"],
            }
        )

    def per_step_ms(self) -> dict[str, float]:
        """Mean milliseconds per phase over the measured steps (and ``total``, their sum).

        Means, not medians: batches made ahead (:class:`~srlab.data.datamodule.BatchesAhead`)
        cost one step in every few, which a median would not show.
        """
        if not self.steps:
            return {}
        out = {p: 1000 * statistics.fmean(s[p] for s in self.steps) for p in PHASES}
        out["total"] = sum(out.values())
        return out


def breakdown_run(ctx, model: str, overrides: list[str], synchronize: bool) -> dict[str, float]:
    """ms per phase of srlab's step from a ``srlab.train`` run of its own with
    :class:`StepBreakdown` (``ctx``: the bench's :class:`~srlab.benchmark.common.Context`): the
    hooks it adds to every step stay out of the timed runs."""
    with scratch_dir(ctx.keep_dir) as run_dir:
        StepBreakdown.latest = None
        srlab_rate(
            model,
            [
                *overrides,
                "+callbacks.bench_breakdown._target_=srlab.benchmark.breakdown.StepBreakdown",
                f"+callbacks.bench_breakdown.skip={ctx.warmup}",
                f"+callbacks.bench_breakdown.synchronize={str(bool(synchronize)).lower()}",
            ],
            ctx.warmup,
            ctx.window,
            max(2, ctx.repeats // 2),
            run_dir,
        )
    return StepBreakdown.latest.per_step_ms() if StepBreakdown.latest else {}


def bare_breakdown(
    step_parts: tuple[
        Callable[[], torch.Tensor], Callable[[torch.Tensor], None], Callable[[], None]
    ],
    device: torch.device,
    warmup: int,
    steps: int,
) -> dict[str, float]:
    """Median ms of the bare loop's forward (with loss), backward and optimizer step.

    ``step_parts`` = ``(forward_loss, backward, optimizer_step)``; the device is synchronised at
    every boundary, like :class:`StepBreakdown` on CUDA.
    """
    forward_loss, backward, optimizer_step = step_parts
    rows = []
    for i in range(warmup + steps):
        sync(device)
        t0 = time.perf_counter()
        loss = forward_loss()
        sync(device)
        t1 = time.perf_counter()
        backward(loss)
        sync(device)
        t2 = time.perf_counter()
        optimizer_step()
        sync(device)
        t3 = time.perf_counter()
        if i >= warmup:
            rows.append({"forward": t1 - t0, "backward": t2 - t1, "optimizer": t3 - t2})
    out = {
        k: 1000 * statistics.median(r[k] for r in rows)
        for k in ("forward", "backward", "optimizer")
    }
    out["loader"] = out["degradation"] = 0.0
    out["total"] = 1000 * statistics.median(sum(r.values()) for r in rows)
    return out


def breakdown_table(srlab: dict[str, float], bare: dict[str, float]) -> str:
    """Markdown: one row per phase, ms per step of srlab and of the bare loop."""
    lines = ["| phase | srlab ms/step | bare ms/step |", "|---|---:|---:|"]
    for phase in (*PHASES, "total"):
        a, b = srlab.get(phase), bare.get(phase)
        lines.append(
            f"| {phase} | {'' if a is None else f'{a:.2f}'} | {'' if b is None else f'{b:.2f}'} |"
        )
    return "\n".join(lines)
