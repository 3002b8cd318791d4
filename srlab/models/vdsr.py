"""VDSR — Kim, Lee, Lee. "Accurate Image Super-Resolution Using Very Deep Convolutional Networks",
CVPR 2016.

A pre-upsampling network: the LR image is first upsampled bicubically (MATLAB ``imresize``, the
paper's interpolated low-resolution image ILR), then 20 3x3 convolutions of 64 filters with ReLU
predict the residual ``HR - ILR`` (global residual learning):

    ILR = imresize(lr, scale)                       (B, C, h, w) -> (B, C, s*h, s*w)
    conv 3x3, 64, ReLU                              -> (B, 64, s*h, s*w)
    18 x [conv 3x3, 64, ReLU]                       -> (B, 64, s*h, s*w)
    conv 3x3, C (linear)                            -> (B, C, s*h, s*w)
    sr = ILR + residual

Parameters on the Y channel (depth 20, width 64, with biases):
``(9*64 + 64) + 18*(9*64*64 + 64) + (9*64 + 1)`` = 665,921 (the "665K" quoted in the literature;
664,704 weights without biases).
"""

from __future__ import annotations

import torch
from torch import nn

from srlab.degradations.resize import imresize
from srlab.models.layers import init_hidden_, init_output_, same_conv


class VDSR(nn.Module):
    """VDSR keeping srlab's model contract ``net(lr) -> sr``.

    Args:
        scale: upscaling factor; ``forward`` starts with MATLAB-style bicubic upsampling by ``scale``.
        in_channels: 1 = Y channel of YCbCr (the paper's setting), 3 = RGB.
        depth: number of convolution layers (20).
        features: filters of every hidden layer (64).

    Shapes: ``lr (B, in_channels, h, w)`` -> ``sr (B, in_channels, scale*h, scale*w)``.
    """

    output_layer = "tail"

    def __init__(
        self, scale: int = 3, in_channels: int = 1, depth: int = 20, features: int = 64
    ) -> None:
        super().__init__()
        if depth < 2:
            raise ValueError(f"VDSR depth must be at least 2, got {depth}")
        self.scale = int(scale)
        self.in_channels = int(in_channels)
        layers: list[nn.Module] = [same_conv(in_channels, features, 3), nn.ReLU(inplace=True)]
        for _ in range(depth - 2):
            layers += [same_conv(features, features, 3), nn.ReLU(inplace=True)]
        self.body = nn.Sequential(*layers)
        self.tail = same_conv(features, in_channels, 3)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # The paper uses He initialisation. The residual layer starts near zero, so an untrained
        # VDSR returns the bicubic image rather than bicubic plus noise.
        init_hidden_(self.body)
        init_output_(self.tail)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        ilr = imresize(lr, self.scale)  # (B, C, s*h, s*w), the paper's interpolated input
        return ilr + self.tail(self.body(ilr))
