"""The degradation contract: ``degrade(hr, generator) -> lr`` on batched float tensors.

A degradation maps HR images ``(B, C, H, W)`` in [0, 1] to LR images ``(B, C, H/s, W/s)`` in
[0, 1]. Random ones draw all their parameters from the ``generator`` first (one draw per sample)
and apply them second — kornia's sample-then-apply — so a fixed generator seed replays the same
LR images, which is what validation does every epoch.
"""

from __future__ import annotations

import torch
from torch import nn

from srlab.degradations.resize import imresize, quantize


class Degradation(nn.Module):
    """Base class: subclasses implement ``forward(hr, generator=None) -> lr``."""

    scale: int

    def forward(self, hr: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        raise NotImplementedError


class BicubicDegradation(Degradation):
    """The classic SR setting: MATLAB bicubic downscaling by ``scale``, then (by default) rounding to
    the uint8 grid, since benchmark LR images are stored as 8-bit files.

    Args:
        scale: integer downscaling factor.
        quantize: round the LR to multiples of 1/255 (the published protocol's uint8 LR).
    """

    def __init__(self, scale: int, quantize: bool = True) -> None:
        super().__init__()
        self.scale = int(scale)
        self.quantize = quantize

    def forward(self, hr: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """``hr (B,C,H,W)`` with H, W divisible by ``scale`` -> ``lr (B,C,H/scale,W/scale)``."""
        lr = imresize(hr, 1.0 / self.scale)
        return quantize(lr) if self.quantize else lr.clamp(0, 1)

    def extra_repr(self) -> str:
        return f"scale={self.scale}, quantize={self.quantize}"
