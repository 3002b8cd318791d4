"""Callbacks that training subprocesses and in-process runs of the tests load by Hydra _target_."""

from __future__ import annotations

import time

import lightning as L


class StepRecorder(L.Callback):
    """Appends the global step after every training batch to ``path``; sleeps ``sleep_s`` then.

    The sleep slows the run down so that a test can SIGKILL it at a known point; it draws no random
    numbers, so it does not change what is trained.
    """

    def __init__(self, path: str, sleep_s: float = 0.0) -> None:
        self.path, self.sleep_s = path, float(sleep_s)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        with open(self.path, "a") as f:
            f.write(f"{trainer.global_step}\n")
        if self.sleep_s:
            time.sleep(self.sleep_s)


class PoisonBatch(L.Callback):
    """Sets the HR targets of the batches at ``at_steps`` (global steps) to NaN: a NaN loss.

    Records the network weights before and after each poisoned step in ``weights``; the latest
    instance is ``PoisonBatch.latest`` (for in-process tests).
    """

    latest: PoisonBatch | None = None

    def __init__(self, at_steps: list[int]) -> None:
        PoisonBatch.latest = self
        self.at_steps = set(int(s) for s in at_steps)
        self.weights: dict[int, tuple[dict, dict]] = {}

    def _snapshot(self, pl_module) -> dict:
        return {k: v.detach().clone() for k, v in pl_module.net.state_dict().items()}

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step in self.at_steps:
            batch["hr"].fill_(float("nan"))
            self.weights[trainer.global_step] = (self._snapshot(pl_module), {})

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step - 1
        if step in self.weights and not self.weights[step][1]:
            self.weights[step][1].update(self._snapshot(pl_module))


class BatchDigest(L.Callback):
    """Appends ``<global step> <sha1 of the batch's HR crops>`` to ``<path>.rank<global rank>``
    after every training batch: which patches each DDP rank trained on."""

    def __init__(self, path: str) -> None:
        self.path = path

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        import hashlib

        digest = hashlib.sha1(batch["hr"].detach().cpu().numpy().tobytes()).hexdigest()
        with open(f"{self.path}.rank{trainer.global_rank}", "a") as f:
            f.write(f"{trainer.global_step} {digest}\n")
