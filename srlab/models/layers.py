"""Small building blocks shared by the model families."""

from __future__ import annotations

from torch import nn


def same_conv(
    in_channels: int, out_channels: int, kernel: int, *, name: str = "kernel"
) -> nn.Conv2d:
    """A stride-1 convolution with 'same' zero padding (output size = input size).

    Only odd kernels have a centre pixel; an even ``kernel`` raises a ValueError naming ``name``
    (e.g. ``"SRCNN f2"``) instead of silently shifting the output by half a pixel.
    """
    if kernel % 2 != 1:
        raise ValueError(f"{name}={kernel}: kernel size must be odd for 'same' padding")
    return nn.Conv2d(in_channels, out_channels, kernel, padding=kernel // 2)
