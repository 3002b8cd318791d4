"""SRModule: the LightningModule that trains and scores any SR network.

It only relies on srlab's model contract: ``net(lr) -> sr`` with ``sr`` ``net.scale`` times larger,
``net.in_channels`` saying the colour mode (1 = Y of BT.601 YCbCr, 3 = RGB) and ``net.output_layer``
naming the layer that produces the image (:mod:`srlab.models.layers`). Batches arrive as
``{"lr": (B,C,h,w), "hr": (B,C,H,W)}`` float in [0,1], C = 3 (or 1 for grey validation images);
colour conversion is :mod:`srlab.protocol.colour`'s and every validation/test score comes from
:func:`srlab.protocol.scoring.score_batch`, the path ``srlab.evaluate`` uses too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn

from srlab.errors import ConfigError
from srlab.models.layers import output_layer_of
from srlab.protocol.colour import to_model_space
from srlab.protocol.scoring import score_batch
from srlab.training.metrics import ImageMean

log = logging.getLogger(__name__)

_VAL_KEYS = ("psnr", "ssim", "psnr_bicubic", "ssim_bicubic")


class SRModule(L.LightningModule):
    """Train/validate/test any ``net(lr) -> sr`` with MSE (or L1) on the network's colour mode.

    Args:
        net: the SR network (``scale``, ``in_channels`` and ``output_layer`` attributes).
        optimizer: partial optimizer, called with parameter groups (Hydra ``_partial_: true``).
        scheduler: optional partial LR scheduler, called with the optimizer.
        scheduler_interval: ``"step"`` or ``"epoch"``.
        last_layer_lr_scale: learning-rate multiplier of the output layer (the SRCNN paper uses 0.1).
        loss: ``"mse"`` (the paper) or ``"l1"``.
        channels_last: run convolutions in channels-last memory format (faster on CPU and GPU).
        compile: wrap the network in ``torch.compile``.
        net_config: the network's Hydra config (plain dict); stored in checkpoints so that a
            checkpoint alone rebuilds the network (:func:`srlab.checkpoints.load_model`).
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
        try:  # a model must say which layer is its output (no guessing from registration order)
            output_layer_of(net)
        except ValueError as e:
            raise ConfigError(f"model.net: {e}") from e
        self.net = net
        self.scale = int(net.scale)
        self.in_channels = int(getattr(net, "in_channels", 3))
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        if loss not in ("mse", "l1"):
            raise ConfigError(f"model.loss must be 'mse' or 'l1', got {loss!r}")
        self.loss_fn = F.mse_loss if loss == "mse" else F.l1_loss
        if last_layer_lr_scale != 1.0 and _base_lr(optimizer) is None:
            raise ConfigError(
                f"model.last_layer_lr_scale={last_layer_lr_scale} needs a base learning rate: "
                "set model.optimizer.lr"
            )
        if channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)
        # Kept out of the module tree (a second registered name would duplicate the weights in the
        # state dict); the compiled wrapper shares its parameters with self.net.
        self.__dict__["_compiled_net"] = torch.compile(self.net) if compile else None
        # Means over images of the per-image scores (sums reduce across DDP ranks). Kept out of
        # the module tree too: they hold no weights, and Lightning would list them as layers.
        self.__dict__["_means"] = {
            f"{stage}/{key}": ImageMean() for stage in ("val", "test") for key in _VAL_KEYS
        }

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
    def model_space_batch(self, batch: dict) -> dict:
        """``batch`` with ``lr`` and ``hr`` in the network's colour mode (a no-op on a batch that
        is already). :class:`~srlab.data.datamodule.BatchesAhead` calls it on the batches it
        makes ahead, while they are still in the caches."""
        return {
            **batch,
            "lr": to_model_space(batch["lr"], self.in_channels),
            "hr": to_model_space(batch["hr"], self.in_channels),
        }

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        batch = self.model_space_batch(batch)
        lr, hr = batch["lr"], batch["hr"]
        sr = self(lr)
        loss = self.loss_fn(sr, hr)
        if self._loss_is_read_this_step():
            self.log(
                "train/loss",
                loss,
                prog_bar=True,
                on_step=True,
                on_epoch=False,
                batch_size=lr.shape[0],
            )
        return loss

    def _loss_is_read_this_step(self) -> bool:
        """Whether a logger (every ``log_every_n_steps``) or the progress bar (every
        ``every_n_steps``, or TQDM's ``refresh_rate``) reads ``train/loss`` after this step.

        ``self.log`` costs about a millisecond of host time per call in Lightning 2.x (it walks
        the stored result's whole state each time): 2-3% of a CPU training step of SRCNN 9-1-5,
        for a value nothing reads on the other steps (BENCHMARKS.md, training breakdown).
        """
        trainer = self._trainer
        if trainer is None:
            return True
        step = self.global_step + 1  # Lightning's own count for its logging decision
        periods = [int(trainer.log_every_n_steps or 0)]
        bar = trainer.progress_bar_callback
        if bar is not None and bar.is_enabled:
            # srlab's bar reads every `every_n_steps`; TQDM's every `refresh_rate` steps.
            every = getattr(bar, "every_n_steps", None) or getattr(bar, "refresh_rate", 1)
            periods.append(int(every or 0))
        return step == 1 or any(p > 0 and step % p == 0 for p in periods)

    def _update(self, stage: str, batch: dict) -> None:
        """Score a batch with the protocol's one scoring path and accumulate the per-image values."""
        scores = score_batch(self.net, batch["lr"], batch["hr"], bicubic=True)
        for key in _VAL_KEYS:
            self.__dict__["_means"][f"{stage}/{key}"].update(getattr(scores, key))

    def _log_means(self, stage: str) -> None:
        for key in _VAL_KEYS:
            metric = self.__dict__["_means"][f"{stage}/{key}"]
            metric.to(self.device)  # its states follow the module (sync needs them on device)
            self.log(f"{stage}/{key}", metric.compute(), prog_bar=key == "psnr")
            metric.reset()

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self._update("val", batch)

    def on_validation_epoch_end(self) -> None:
        # The bicubic baseline is scored on every validation, on exactly the images the model was
        # scored on: a limited first validation, a resumed or fine-tuned run with another
        # validation set, scale or degradation cannot report a stale baseline.
        self._log_means("val")

    def test_step(self, batch: dict, batch_idx: int) -> None:
        self._update("test", batch)

    def on_test_epoch_end(self) -> None:
        self._log_means("test")

    # ------------------------------------------------------------------ optimisation
    def configure_optimizers(self):
        if self.optimizer_factory is None:
            raise ConfigError("SRModule needs an optimizer (model.optimizer in the config)")
        head = output_layer_of(self.net)
        head_params = {id(p) for p in head.parameters()} if head is not None else set()
        body = [p for p in self.net.parameters() if id(p) not in head_params]
        groups = [{"params": body, "name": "body"}]
        if head_params:
            group = {"params": list(head.parameters()), "name": "head"}
            if self.hparams.last_layer_lr_scale != 1.0:
                group["lr"] = _base_lr(self.optimizer_factory) * self.hparams.last_layer_lr_scale
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
        }


def _base_lr(optimizer: Callable[..., Any] | None) -> float | None:
    """The ``lr`` a partial optimizer (``functools.partial``) was configured with, if any."""
    keywords = getattr(optimizer, "keywords", None) or {}
    return keywords.get("lr")
