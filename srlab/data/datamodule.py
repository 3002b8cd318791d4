"""The LightningDataModule: uint8 HR crops from CPU workers, LR made on the device.

Data flow (see ../ARCHITECTURE in the README):
    source files -> uint8 HR crops + flips/rot90 [CPU workers] -> collate, pin, transfer
    -> on_after_batch_transfer: float, degradation -> {"lr", "hr"} [on the training device]

Making LR after the transfer means the resize/blur/noise/JPEG work runs on the GPU when training on
a GPU, and the host only moves uint8 HR crops (4x less than float32).
"""

from __future__ import annotations

import logging

import lightning as L
import torch
from torch.utils.data import DataLoader

from srlab.data.datasets import RandomPatchDataset, WholeImageDataset
from srlab.data.samplers import evaluation_sampler
from srlab.data.sources import ImageSource
from srlab.degradations.base import BicubicDegradation

log = logging.getLogger(__name__)


class SRDataModule(L.LightningDataModule):
    """HR patches for training, whole images for validation/test, LR made on the device.

    Args:
        train_source: HR training images.
        val_source: HR validation images (whole images, mod-cropped, deterministic LR).
        test_source: HR test images (defaults to ``val_source``).
        scale: SR factor (2, 3, 4, …).
        patch_size: HR crop size in pixels (divisible by ``scale``).
        batch_size: training batch size (validation uses 1: images differ in size).
        patches_per_epoch: crops per training epoch (so an epoch is a chosen number of steps).
        num_workers: DataLoader workers for decoding and cropping.
        augment: random flips and 90° rotations.
        in_memory: decode images once and keep them in RAM (small sets); else decode per crop.
        degradation: module ``(hr, generator) -> lr``; defaults to MATLAB bicubic with uint8 LR.
        val_degradation: degradation for validation/test; defaults to ``degradation``.
        seed: seed of the training and validation degradation generators.
        pin_memory: pin host memory (only used when training on CUDA).
        train_dir, val_dir: the folders ``data=folder`` reads (its sources interpolate them);
            kept for the record, unused otherwise.
    """

    def __init__(
        self,
        train_source: ImageSource,
        val_source: ImageSource,
        test_source: ImageSource | None = None,
        scale: int = 3,
        patch_size: int = 48,
        batch_size: int = 64,
        patches_per_epoch: int = 32_000,
        num_workers: int = 2,
        augment: bool = True,
        in_memory: bool = True,
        degradation: torch.nn.Module | None = None,
        val_degradation: torch.nn.Module | None = None,
        seed: int = 0,
        pin_memory: bool = True,
        train_dir: str | None = None,
        val_dir: str | None = None,
    ) -> None:
        super().__init__()
        if patch_size % scale:
            raise ValueError(f"data.patch_size={patch_size} must be divisible by data.scale={scale}")
        self.train_source = train_source
        self.val_source = val_source
        self.test_source = test_source if test_source is not None else val_source
        self.scale = int(scale)
        self.patch_size = int(patch_size)
        self.batch_size = int(batch_size)
        self.patches_per_epoch = int(patches_per_epoch)
        self.num_workers = int(num_workers)
        self.augment = augment
        self.in_memory = in_memory
        self.degradation = degradation if degradation is not None else BicubicDegradation(scale)
        self.val_degradation = val_degradation if val_degradation is not None else self.degradation
        self.seed = int(seed)
        self.pin_memory = pin_memory
        self.train_dir, self.val_dir = train_dir, val_dir
        self._train_generator: torch.Generator | None = None
        self.train_set = self.val_set = self.test_set = None

    # ------------------------------------------------------------------ datasets
    def setup(self, stage: str | None = None) -> None:
        if stage in (None, "fit") and self.train_set is None:
            self.train_set = RandomPatchDataset(
                self.train_source, self.scale, self.patch_size, self.patches_per_epoch,
                augment=self.augment, in_memory=self.in_memory,
            )
        if stage in (None, "fit", "validate") and self.val_set is None:
            self.val_set = WholeImageDataset(self.val_source, self.scale, self.in_memory)
        if stage in (None, "test") and self.test_set is None:
            self.test_set = WholeImageDataset(self.test_source, self.scale, self.in_memory)

    def _loader(self, dataset, batch_size: int, shuffle: bool, workers: int) -> DataLoader:
        on_cuda = self.trainer is not None and self.trainer.accelerator.__class__.__name__ == "CUDAAccelerator"
        # Evaluation under DDP: each image exactly once (Lightning's sampler would pad with repeats).
        sampler = None if shuffle else evaluation_sampler(dataset, self.trainer)
        return DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=shuffle,
            sampler=sampler,
            num_workers=workers,
            pin_memory=self.pin_memory and on_cuda,
            persistent_workers=workers > 0,
            drop_last=shuffle,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, self.batch_size, True, self.num_workers)

    def val_dataloader(self) -> DataLoader:
        # Whole images differ in size: one per batch. Decoded up front, so no workers needed.
        return self._loader(self.val_set, 1, False, 0 if self.in_memory else self.num_workers)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, 1, False, 0 if self.in_memory else self.num_workers)

    # ------------------------------------------------------------------ LR on device
    def _generator(self, device: torch.device, seed: int | None = None) -> torch.Generator:
        if seed is not None:
            return torch.Generator(device=device).manual_seed(seed)
        if self._train_generator is None or self._train_generator.device != device:
            rank = self.trainer.global_rank if self.trainer is not None else 0
            self._train_generator = torch.Generator(device=device).manual_seed(self.seed + 1000 * rank)
        return self._train_generator

    def degrade(self, batch: dict, training: bool) -> dict:
        """uint8 ``batch["hr"] (B,C,H,W)`` -> float ``hr`` in [0,1] and ``lr (B,C,H/s,W/s)``.

        Training draws degradation parameters from a running generator; validation/test seed one
        per image from its index, so every epoch (and every run) sees identical LR images.
        """
        hr = batch["hr"]
        hr = hr.float() / 255 if hr.dtype == torch.uint8 else hr.float()
        if training:
            lr = self.degradation(hr, generator=self._generator(hr.device))
        else:
            index = int(batch["index"][0]) if "index" in batch else 0
            lr = self.val_degradation(hr, generator=self._generator(hr.device, self.seed + 7919 * (index + 1)))
        return {**batch, "hr": hr, "lr": lr}

    def on_after_batch_transfer(self, batch: dict, dataloader_idx: int) -> dict:
        training = self.trainer is not None and self.trainer.training
        return self.degrade(batch, training)
