"""SRModule: the LightningModule that trains and scores any SR network.

It only relies on srlab's model contract: ``net(lr) -> sr`` with ``sr`` ``net.scale`` times larger,
and ``net.in_channels`` saying the colour mode (1 = Y of BT.601 YCbCr, 3 = RGB). Batches arrive as
``{"lr": (B,C,h,w), "hr": (B,C,H,W)}`` float in [0,1], C = 3 (or 1 for grey validation images);
:func:`to_model_space` is the one place that converts them to the network's colour mode.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn

from srlab.degradations.resize import imresize
from srlab.protocol.metrics import PSNR, SSIM, rgb_to_y

log = logging.getLogger(__name__)


def to_model_space(x: torch.Tensor, in_channels: int) -> torch.Tensor:
    """``(B,C,H,W)`` image (C = 1 grey or 3 RGB) -> the network's colour mode.

    1-channel networks get BT.601 Y of RGB (a grey image is used as it is); 3-channel networks get
    RGB (a grey image is repeated to 3 channels).
    """
    c = x.shape[-3]
    if in_channels == c:
        return x
    if in_channels == 1 and c == 3:
        return rgb_to_y(x)
    if in_channels == 3 and c == 1:
        return x.expand(*x.shape[:-3], 3, *x.shape[-2:])
    raise ValueError(f"cannot feed a {c}-channel image to a {in_channels}-channel network")


def output_layer(net: nn.Module) -> nn.Module | None:
    """The last registered leaf module with parameters (SRCNN's reconstruction conv)."""
    last = None
    for module in net.modules():
        if next(module.children(), None) is None and any(
            True for _ in module.parameters(recurse=False)
        ):
            last = module
    return last


class SRModule(L.LightningModule):
    """Train/validate/test any ``net(lr) -> sr`` with MSE on the network's colour mode.

    Args:
        net: the SR network (``scale`` and ``in_channels`` attributes).
        optimizer: partial optimizer, called with parameter groups (Hydra ``_partial_: true``).
        scheduler: optional partial LR scheduler, called with the optimizer.
        scheduler_interval: ``"step"`` or ``"epoch"``.
        last_layer_lr_scale: learning-rate multiplier of the output layer (the SRCNN paper uses 0.1).
        loss: ``"mse"`` (the paper) or ``"l1"``.
        channels_last: run convolutions in channels-last memory format (faster on CPU and GPU).
        compile: wrap the network in ``torch.compile``.
        net_config: the network's Hydra config (plain dict); stored in checkpoints so that a
            checkpoint alone rebuilds the network (:func:`srlab.training.lit_module.load_net`).
    """

    def __init__(
        self,
        net: nn.Module,
        optimizer: Callable[..., torch.optim.Optimizer] | None = None,
        scheduler: Callable[..., Any] | None = None,
        scheduler_interval: str = "step",
        last_layer_lr_scale: float = 1.0,
        loss: str = "mse",
        channels_last: bool = False,
        compile: bool = False,
        net_config: dict | None = None,
    ) -> None:
        super().__init__()
        # Plain values only: checkpoints must load with torch.load(weights_only=True).
        self.save_hyperparameters(ignore=["net", "optimizer", "scheduler"], logger=False)
        self.net = net
        self.scale = int(net.scale)
        self.in_channels = int(getattr(net, "in_channels", 3))
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        if loss not in ("mse", "l1"):
            raise ValueError(f"model.loss must be 'mse' or 'l1', got {loss!r}")
        self.loss_fn = F.mse_loss if loss == "mse" else F.l1_loss
        if channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)
        # Kept out of the module tree (a second registered name would duplicate the weights in the
        # state dict); the compiled wrapper shares its parameters with self.net.
        self.__dict__["_compiled_net"] = torch.compile(self.net) if compile else None
        self.val_psnr, self.val_ssim = PSNR(self.scale), SSIM(self.scale)
        self.val_psnr_bicubic = PSNR(self.scale)
        self.test_psnr, self.test_ssim = PSNR(self.scale), SSIM(self.scale)
        self.test_psnr_bicubic, self.test_ssim_bicubic = PSNR(self.scale), SSIM(self.scale)
        self.bicubic_psnr: float | None = None  # computed on the first full validation

    # ------------------------------------------------------------------ forward
    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        """``lr (B, in_channels, h, w)`` -> ``sr (B, in_channels, s*h, s*w)``."""
        if self.hparams.channels_last:
            lr = lr.contiguous(memory_format=torch.channels_last)
        net = self.__dict__["_compiled_net"] or self.net
        return net(lr)

    def predict_sr(self, lr_image: torch.Tensor) -> torch.Tensor:
        """Image-space LR ``(B,C,h,w)`` -> SR in the network's colour mode."""
        return self(to_model_space(lr_image, self.in_channels))

    # ------------------------------------------------------------------ steps
    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        lr = to_model_space(batch["lr"], self.in_channels)
        hr = to_model_space(batch["hr"], self.in_channels)
        sr = self(lr)
        loss = self.loss_fn(sr, hr)
        self.log(
            "train/loss", loss, prog_bar=True, on_step=True, on_epoch=False, batch_size=lr.shape[0]
        )
        return loss

    def _score_outputs(self, lr_image: torch.Tensor, bicubic: bool) -> tuple[torch.Tensor, ...]:
        """SR (and, with ``bicubic``, the bicubic baseline) at full float32 precision.

        Validation and test run inside the trainer's precision context; under ``bf16-mixed`` /
        ``16-mixed`` autocast the convolutions and the bicubic matrix products would carry ~3
        significant digits, an error as large as a uint8 step. Paper-protocol scores need float32.
        """
        lr_model = to_model_space(lr_image, self.in_channels).float()
        with torch.autocast(device_type=lr_model.device.type, enabled=False):
            sr = self(lr_model)
            return (sr, imresize(lr_model, self.scale)) if bicubic else (sr,)

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        sr, *bic = self._score_outputs(batch["lr"], bicubic=self.bicubic_psnr is None)
        self.val_psnr.update(sr, batch["hr"])
        self.val_ssim.update(sr, batch["hr"])
        if bic:
            self.val_psnr_bicubic.update(bic[0], batch["hr"])

    def on_validation_epoch_end(self) -> None:
        psnr, ssim = self.val_psnr.compute(), self.val_ssim.compute()
        self.val_psnr.reset()
        self.val_ssim.reset()
        self.log("val/psnr", psnr, prog_bar=True, sync_dist=False)
        self.log("val/ssim", ssim, sync_dist=False)
        if self.bicubic_psnr is None:
            value = float(self.val_psnr_bicubic.compute())
            self.val_psnr_bicubic.reset()
            if not self.trainer.sanity_checking:
                self.bicubic_psnr = value
                log.info(
                    "val/psnr_bicubic = %.3f dB (bicubic baseline on the validation images)", value
                )
        if self.bicubic_psnr is not None:
            self.log("val/psnr_bicubic", self.bicubic_psnr)

    def test_step(self, batch: dict, batch_idx: int) -> None:
        sr, bic = self._score_outputs(batch["lr"], bicubic=True)
        for metric, out in (
            (self.test_psnr, sr),
            (self.test_ssim, sr),
            (self.test_psnr_bicubic, bic),
            (self.test_ssim_bicubic, bic),
        ):
            metric.update(out, batch["hr"])

    def on_test_epoch_end(self) -> None:
        for key, metric in (
            ("test/psnr", self.test_psnr),
            ("test/ssim", self.test_ssim),
            ("test/psnr_bicubic", self.test_psnr_bicubic),
            ("test/ssim_bicubic", self.test_ssim_bicubic),
        ):
            self.log(key, metric.compute())
            metric.reset()

    # ------------------------------------------------------------------ optimisation
    def configure_optimizers(self):
        if self.optimizer_factory is None:
            raise ValueError("SRModule needs an optimizer (model.optimizer in the config)")
        head = output_layer(self.net)
        head_params = {id(p) for p in head.parameters()} if head is not None else set()
        body = [p for p in self.net.parameters() if id(p) not in head_params]
        groups = [{"params": body, "name": "body"}]
        if head_params:
            base_lr = (
                self.optimizer_factory.keywords.get("lr")
                if hasattr(self.optimizer_factory, "keywords")
                else None
            )
            group = {"params": list(head.parameters()), "name": "head"}
            if base_lr is not None and self.hparams.last_layer_lr_scale != 1.0:
                group["lr"] = base_lr * self.hparams.last_layer_lr_scale
            groups.append(group)
        groups = [g for g in groups if g["params"]]
        optimizer = self.optimizer_factory(groups)
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": self.hparams.scheduler_interval},
        }

    # ------------------------------------------------------------------ checkpoints
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["srlab"] = {
            "scale": self.scale,
            "in_channels": self.in_channels,
            "net_class": f"{type(self.net).__module__}.{type(self.net).__qualname__}",
            "net_config": self.hparams.get("net_config"),
            "bicubic_psnr": self.bicubic_psnr,
        }

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        meta = checkpoint.get("srlab", {})
        if meta.get("bicubic_psnr") is not None:
            self.bicubic_psnr = meta["bicubic_psnr"]


def load_net(path: str | Path, map_location: str | torch.device = "cpu") -> nn.Module:
    """Rebuild the network stored in an srlab checkpoint (no training config needed).

    Uses ``torch.load(weights_only=True)``; the network is built from the ``net_config`` saved in
    the checkpoint and its weights are loaded strictly.
    """
    ckpt = torch.load(path, map_location=map_location, weights_only=True)
    return net_from_checkpoint(ckpt, source=str(path))


def net_from_checkpoint(ckpt: dict, source: str = "checkpoint") -> nn.Module:
    """The network of an already loaded srlab checkpoint dict (see :func:`load_net`)."""
    from hydra.utils import instantiate

    meta = ckpt.get("srlab") or {}
    net_config = meta.get("net_config") or ckpt.get("hyper_parameters", {}).get("net_config")
    if not net_config:
        raise ValueError(f"{source}: not an srlab checkpoint (no network config stored)")
    net = instantiate(net_config)
    state = {k[len("net.") :]: v for k, v in ckpt["state_dict"].items() if k.startswith("net.")}
    net.load_state_dict(state)
    return net.eval()
