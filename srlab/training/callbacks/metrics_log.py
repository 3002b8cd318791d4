"""A logger-independent record of a run: ``metrics.jsonl`` and ``summary.json`` in the run dir.

``python -m srlab.report`` reads these files, so sweep reports work with any logger (W&B offline,
CSV, none). Written by global rank 0 only.

``metrics.jsonl``: one JSON object per line, ``{"step", "epoch", "wall_s", "train/loss"}`` every
``trainer.log_every_n_steps`` steps and ``{"step", "epoch", "wall_s", "val/psnr", "val/ssim",
"val/psnr_bicubic", "val/psnr_best"}`` after every validation.
``summary.json``: best validation PSNR (and the SSIM and step of that validation), steps, wall
time, best/last checkpoint paths and ``status`` (``finished`` / ``interrupted`` / ``failed``).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from lightning.pytorch import Callback, LightningModule, Trainer

from srlab.training.callbacks.checkpoint import checkpoint_paths


def _floats(metrics: dict, prefix: str) -> dict[str, float]:
    out = {}
    for key, value in metrics.items():
        if key.startswith(prefix):
            v = float(value)
            out[key] = v if math.isfinite(v) else None
    return out


class MetricsLog(Callback):
    """Append training and validation metrics to ``<dirpath>/metrics.jsonl``; summarise at the end.

    Args:
        dirpath: the run directory (``${paths.output_dir}``).
        filename: name of the JSON-lines file.
    """

    def __init__(self, dirpath: str, filename: str = "metrics.jsonl") -> None:
        self.dirpath = Path(dirpath)
        self.path = self.dirpath / filename
        self._t0: float | None = None
        self._best: dict[str, Any] | None = None
        self._elapsed = 0.0

    # ------------------------------------------------------------------ helpers
    def _wall(self) -> float | None:
        return (
            None if self._t0 is None else round(self._elapsed + time.perf_counter() - self._t0, 3)
        )

    def _write(self, record: dict) -> None:
        self.dirpath.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")

    # ------------------------------------------------------------------ hooks
    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._t0 = time.perf_counter()

    def on_train_batch_end(
        self, trainer: Trainer, pl_module, outputs, batch, batch_idx: int
    ) -> None:
        step = trainer.global_step
        if not trainer.is_global_zero or step % max(1, trainer.log_every_n_steps):
            return
        loss = _floats(trainer.callback_metrics, "train/")
        if loss:
            self._write(
                {"step": step, "epoch": trainer.current_epoch, "wall_s": self._wall(), **loss}
            )

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        val = _floats(trainer.callback_metrics, "val/")
        psnr = val.get("val/psnr")
        if psnr is not None and (self._best is None or psnr > self._best["val/psnr"]):
            self._best = {
                "val/psnr": psnr,
                "val/ssim": val.get("val/ssim"),
                "step": trainer.global_step,
            }
        if self._best is not None:
            val["val/psnr_best"] = self._best["val/psnr"]
        self._write(
            {
                "step": trainer.global_step,
                "epoch": trainer.current_epoch,
                "wall_s": self._wall(),
                **val,
            }
        )

    def _summarise(self, trainer: Trainer, status: str) -> None:
        if not trainer.is_global_zero:
            return
        best_path, last_path = checkpoint_paths(trainer)
        best = self._best or {}
        summary = {
            "status": status,
            "best_val_psnr": best.get("val/psnr"),
            "best_val_ssim": best.get("val/ssim"),
            "best_step": best.get("step"),
            "val_psnr_bicubic": _floats(trainer.callback_metrics, "val/psnr_bicubic").get(
                "val/psnr_bicubic"
            ),
            "global_step": trainer.global_step,
            "epochs": trainer.current_epoch,
            "wall_s": self._wall(),
            "best_model_path": best_path,
            "last_model_path": last_path,
        }
        self.dirpath.mkdir(parents=True, exist_ok=True)
        with open(self.dirpath / "summary.json", "w") as f:
            json.dump(summary, f, indent=2)

    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._summarise(trainer, "interrupted" if trainer.interrupted else "finished")

    def on_exception(
        self, trainer: Trainer, pl_module: LightningModule, exception: BaseException
    ) -> None:
        self._summarise(
            trainer, "interrupted" if isinstance(exception, KeyboardInterrupt) else "failed"
        )

    # ------------------------------------------------------------------ resume
    def state_dict(self) -> dict[str, Any]:
        return {"best": self._best, "elapsed": self._wall() or 0.0}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._best = state_dict.get("best")
        self._elapsed = float(state_dict.get("elapsed") or 0.0)
