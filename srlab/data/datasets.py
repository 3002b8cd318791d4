"""Torch datasets over an :class:`~srlab.data.sources.ImageSource`.

Training yields random scale-aligned HR crops (uint8, flips and 90° rotations); the LR input is made
later, on the device, by the degradation (see :mod:`srlab.data.datamodule`). Validation yields whole
mod-cropped HR images.
"""

from __future__ import annotations

import logging

import torch
from torch.utils.data import Dataset

from srlab.data.sources import ImageSource

log = logging.getLogger(__name__)


def modcrop(img: torch.Tensor, scale: int) -> torch.Tensor:
    """Crop ``(…, H, W)`` to the top-left ``(H - H % scale, W - W % scale)`` (the SR protocol)."""
    h, w = img.shape[-2:]
    return img[..., : h - h % scale, : w - w % scale]


def augment(patch: torch.Tensor, flips: torch.Tensor) -> torch.Tensor:
    """Apply the dihedral augmentation given by 3 booleans (hflip, vflip, transpose)."""
    if flips[0]:
        patch = patch.flip(-1)
    if flips[1]:
        patch = patch.flip(-2)
    if flips[2]:
        patch = patch.transpose(-2, -1)
    return patch


class RandomPatchDataset(Dataset):
    """``patches_per_epoch`` random HR crops from the images of ``source``.

    Each item picks an image uniformly, a crop whose top-left corner lies on the ``scale`` grid (so
    LR pixels align with HR pixel blocks), and, with ``augment``, a random flip/rotation. Randomness
    comes from torch's global RNG, which PyTorch seeds per worker and per epoch from the main
    process seed — runs are reproducible under ``seed_everything``.

    Images are decoded once and kept in memory (``in_memory=True``) or decoded per item.
    Grey images are repeated to 3 channels so that every batch collates.

    Item: ``{"hr": (3, patch_size, patch_size) uint8}``.
    """

    def __init__(
        self,
        source: ImageSource,
        scale: int,
        patch_size: int,
        patches_per_epoch: int,
        augment: bool = True,
        in_memory: bool = True,
    ) -> None:
        if patch_size % scale:
            raise ValueError(f"patch_size {patch_size} must be divisible by scale {scale}")
        self.source = source
        self.scale = scale
        self.patch_size = patch_size
        self.patches_per_epoch = int(patches_per_epoch)
        self.augment = augment
        self.images: list[torch.Tensor] | None = None
        self.indices = list(range(len(source)))
        if in_memory:
            self.images, self.indices = [], []
            for i in range(len(source)):
                img = modcrop(source.load(i), scale)
                if min(img.shape[-2:]) < patch_size:
                    log.warning(
                        "skipping %s: %dx%d is smaller than the %d px patch",
                        source.name(i), img.shape[-1], img.shape[-2], patch_size,
                    )
                    continue
                self.images.append(img)
                self.indices.append(i)
            if not self.images:
                raise ValueError(f"no training image is at least {patch_size} px on each side")

    def __len__(self) -> int:
        return self.patches_per_epoch

    def _image(self, k: int) -> torch.Tensor:
        if self.images is not None:
            return self.images[k]
        return modcrop(self.source.load(self.indices[k]), self.scale)

    def __getitem__(self, item: int) -> dict[str, torch.Tensor]:
        k = int(torch.randint(len(self.indices), ()).item())
        img = self._image(k)
        h, w = img.shape[-2:]
        s, p = self.scale, self.patch_size
        y = s * int(torch.randint((h - p) // s + 1, ()).item())
        x = s * int(torch.randint((w - p) // s + 1, ()).item())
        patch = img[:, y : y + p, x : x + p]
        if self.augment:
            patch = augment(patch, torch.randint(2, (3,), dtype=torch.bool))
        if patch.shape[0] == 1:
            patch = patch.expand(3, -1, -1)
        return {"hr": patch.contiguous()}


class WholeImageDataset(Dataset):
    """Every image of ``source``, mod-cropped to ``scale``, channels kept (1 = grey, 3 = RGB).

    Item: ``{"hr": (C, H, W) uint8, "index": int, "name": str}``. Use with ``batch_size=1``.
    """

    def __init__(self, source: ImageSource, scale: int, in_memory: bool = True) -> None:
        self.source = source
        self.scale = scale
        self.images = [modcrop(source.load(i), scale) for i in range(len(source))] if in_memory else None

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, index: int) -> dict:
        img = self.images[index] if self.images is not None else modcrop(self.source.load(index), self.scale)
        return {"hr": img, "index": index, "name": self.source.name(index)}
