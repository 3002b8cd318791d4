"""W&B dashboard content: image panels during training, per-image scores and summary at the end.

Does nothing unless a :class:`~lightning.pytorch.loggers.WandbLogger` is attached, so it can stay
in ``conf/callbacks/default.yaml`` for every logger. Runs on global rank 0 only and scores the
validation images itself (whole set, one image at a time), so DDP sharding does not matter.

Logged:
* every ``every_n_validations`` validations, ``val/panel``: bicubic | SR | HR crops of one fixed
  validation image (the same LR input each time, so the panels show the model improving), with
  the image's PSNRs in the caption;
* every validation, ``val/psnr_best`` (running maximum of ``val/psnr``);
* at the end of fit, ``val/per_image``: a W&B Table of per-image PSNR/SSIM of the best checkpoint
  against bicubic, and in the run summary ``val/psnr_best``, ``best_checkpoint``,
  ``last_checkpoint`` and ``run_dir``; optionally the best checkpoint as a model artifact.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np
import torch
from lightning.pytorch import Callback, LightningModule, Trainer

from srlab.degradations.resize import imresize
from srlab.protocol.colour import to_image_space
from srlab.protocol.scoring import score_batch
from srlab.training.callbacks.checkpoint import checkpoint_paths

log = logging.getLogger(__name__)


def _to_display(x: torch.Tensor, hr_channels: int, guide_rgb: torch.Tensor | None) -> torch.Tensor:
    """A model-space or image-space ``(1,C,H,W)`` tensor -> ``(1,3,H,W)`` RGB for viewing.

    A Y-only network's output on a colour image gets the bicubic image's chroma (the SRCNN papers'
    way to show Y results); grey images are shown grey.
    """
    x = to_image_space(x, hr_channels, guide_rgb)
    return x.expand(-1, 3, -1, -1).clamp(0, 1)


def _wandb_logger(trainer: Trainer):
    from lightning.pytorch.loggers import WandbLogger

    return next((lg for lg in trainer.loggers if isinstance(lg, WandbLogger)), None)


@torch.no_grad()
def score_validation_images(module: LightningModule, datamodule) -> list[dict[str, Any]]:
    """Per-image PSNR/SSIM of ``module`` and of its bicubic baseline on ``datamodule.val_set``.

    Uses the datamodule's deterministic validation LR (``datamodule.degrade``) and the protocol's
    :func:`~srlab.protocol.scoring.score_batch`, so the mean PSNR equals the ``val/psnr`` that
    validation logs for the same weights.
    """
    rows = []
    for i in range(len(datamodule.val_set)):
        item = datamodule.val_set[i]
        batch = datamodule.degrade(
            {"hr": item["hr"][None].to(module.device), "index": torch.tensor([i])}, training=False
        )
        scores = score_batch(module.net, batch["lr"], batch["hr"], bicubic=True)
        rows.append(
            {
                "name": item.get("name", str(i)),
                "height": int(batch["hr"].shape[-2]),
                "width": int(batch["hr"].shape[-1]),
                "psnr": float(scores.psnr[0]),
                "ssim": float(scores.ssim[0]),
                "psnr_bicubic": float(scores.psnr_bicubic[0]),
                "ssim_bicubic": float(scores.ssim_bicubic[0]),
            }
        )
    return rows


class WandbPanels(Callback):
    """Image panels, per-image table and summary for W&B (see the module docstring).

    Args:
        image_index: which validation image the panels show (wraps around the set's length).
        crop_size: side of the centred HR crop shown, in HR pixels (whole image if smaller).
        every_n_validations: log a panel every n-th validation (1 = each one).
        per_image_table: log the per-image table at the end of fit.
        log_checkpoint_artifact: upload the best checkpoint as a W&B model artifact (large runs
            fill W&B storage quickly, so off by default; the path is in the summary either way).
    """

    def __init__(
        self,
        image_index: int = 0,
        crop_size: int = 128,
        every_n_validations: int = 1,
        per_image_table: bool = True,
        log_checkpoint_artifact: bool = False,
    ) -> None:
        self.image_index = int(image_index)
        self.crop_size = int(crop_size)
        self.every_n_validations = max(1, int(every_n_validations))
        self.per_image_table = per_image_table
        self.log_checkpoint_artifact = log_checkpoint_artifact
        self.best_psnr: float | None = None
        self._validations = 0

    # ------------------------------------------------------------------ panel
    @torch.no_grad()
    def panel(self, module: LightningModule, datamodule) -> tuple[np.ndarray, str]:
        """``(H, 3*W + 4, 3)`` uint8 bicubic | SR | HR crops of the fixed image, and a caption."""
        index = self.image_index % len(datamodule.val_set)
        item = datamodule.val_set[index]
        batch = datamodule.degrade(
            {"hr": item["hr"][None].to(module.device), "index": torch.tensor([index])},
            training=False,
        )
        lr, hr = batch["lr"], batch["hr"]
        scores = score_batch(module.net, lr, hr, bicubic=True)
        sr = scores.sr
        bic_rgb = imresize(lr, module.scale)  # image space (RGB or grey), for display
        caption = (
            f"{item.get('name', index)}: bicubic {float(scores.psnr_bicubic[0]):.2f} dB"
            f" | SR {float(scores.psnr[0]):.2f} dB | HR"
        )
        c = hr.shape[1]
        views = [
            _to_display(bic_rgb, c, bic_rgb),
            _to_display(sr, c, bic_rgb),
            _to_display(hr, c, None),
        ]
        h, w = hr.shape[-2:]
        ch, cw = min(self.crop_size, h), min(self.crop_size, w)
        y0, x0 = (h - ch) // 2, (w - cw) // 2
        crops = [v[0, :, y0 : y0 + ch, x0 : x0 + cw] for v in views]
        gap = torch.ones(3, ch, 2, device=hr.device, dtype=crops[0].dtype)
        grid = torch.cat([crops[0], gap, crops[1], gap, crops[2]], dim=-1)
        image = (grid.clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(1, 2, 0).cpu().numpy()
        return image, caption

    # ------------------------------------------------------------------ hooks
    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        logger = _wandb_logger(trainer)
        if logger is None or trainer.sanity_checking or not trainer.is_global_zero:
            return
        psnr = trainer.callback_metrics.get("val/psnr")
        if psnr is not None:
            self.best_psnr = (
                float(psnr) if self.best_psnr is None else max(self.best_psnr, float(psnr))
            )
            logger.log_metrics({"val/psnr_best": self.best_psnr}, step=trainer.global_step)
        datamodule = trainer.datamodule
        self._validations += 1
        if datamodule is None or getattr(datamodule, "val_set", None) is None:
            return
        if (self._validations - 1) % self.every_n_validations == 0:
            was_training = pl_module.training
            pl_module.eval()
            try:
                image, caption = self.panel(pl_module, datamodule)
            finally:
                pl_module.train(was_training)
            logger.log_image(
                key="val/panel", images=[image], caption=[caption], step=trainer.global_step
            )

    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        logger = _wandb_logger(trainer)
        if logger is None or not trainer.is_global_zero:
            return
        import wandb

        run = logger.experiment
        ckpt = trainer.checkpoint_callback
        best_path, last_path = checkpoint_paths(trainer)
        best_score = getattr(ckpt, "best_model_score", None)
        if best_score is not None and getattr(ckpt, "monitor", None) == "val/psnr":
            self.best_psnr = float(best_score)
        if self.best_psnr is not None:
            run.summary["val/psnr_best"] = self.best_psnr
        run.summary["best_checkpoint"] = best_path
        run.summary["last_checkpoint"] = last_path
        run.summary["run_dir"] = os.path.abspath(trainer.default_root_dir)

        datamodule = trainer.datamodule
        if (
            self.per_image_table
            and datamodule is not None
            and getattr(datamodule, "val_set", None) is not None
        ):
            rows = self._score_best(pl_module, datamodule, best_path or "")
            columns = [
                "name",
                "height",
                "width",
                "psnr",
                "ssim",
                "psnr_bicubic",
                "ssim_bicubic",
                "gain_db",
            ]
            table = wandb.Table(
                columns=columns,
                data=[[*(r[c] for c in columns[:-1]), r["psnr"] - r["psnr_bicubic"]] for r in rows],
            )
            run.log({"val/per_image": table})

        if self.log_checkpoint_artifact and best_path and os.path.isfile(best_path):
            artifact = wandb.Artifact(
                f"model-{run.id}", type="model", metadata={"val/psnr_best": self.best_psnr}
            )
            artifact.add_file(best_path, name="best.ckpt")
            run.log_artifact(artifact, aliases=["best", "latest"])

    def _score_best(
        self, module: LightningModule, datamodule, best_path: str
    ) -> list[dict[str, Any]]:
        """Per-image scores of the best checkpoint's weights (the current ones if there is none)."""
        current = None
        if best_path and os.path.isfile(best_path):
            current = {k: v.detach().clone() for k, v in module.state_dict().items()}
            state = torch.load(best_path, map_location=module.device, weights_only=True)[
                "state_dict"
            ]
            module.load_state_dict(state)
        was_training = module.training
        module.eval()
        try:
            return score_validation_images(module, datamodule)
        finally:
            module.train(was_training)
            if current is not None:
                module.load_state_dict(current)
