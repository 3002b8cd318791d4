"""The non-learned baseline: MATLAB-style bicubic upsampling, as a model with the usual contract."""

from __future__ import annotations

import torch
from torch import nn

from srlab.degradations.resize import imresize


class Bicubic(nn.Module):
    """``net(lr) -> imresize(lr, scale)``; no parameters.

    Args:
        scale: upscaling factor.
        in_channels: colour mode it is evaluated in (1 = Y, 3 = RGB); bicubic itself is per channel.

    Shapes: ``lr (B, C, h, w)`` -> ``sr (B, C, scale*h, scale*w)``.
    """

    output_layer = None  # nothing is learned

    def __init__(self, scale: int = 3, in_channels: int = 1) -> None:
        super().__init__()
        self.scale = int(scale)
        self.in_channels = int(in_channels)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        return imresize(lr, self.scale)
