"""ESPCN — Shi, Caballero, Huszár, Totz, Aitken, Bishop, Rueckert, Wang. "Real-Time Single Image
and Video Super-Resolution Using an Efficient Sub-Pixel Convolutional Neural Network", CVPR 2016.

Every convolution runs on the LR grid; the last one produces ``scale^2`` channels per output channel
that the periodic shuffling operator (sub-pixel convolution, ``nn.PixelShuffle``) rearranges into
the HR image:

    conv 5x5, 64 filters, tanh              (B, C, h, w)  -> (B, 64, h, w)
    conv 3x3, 32 filters, tanh              (B, 64, h, w) -> (B, 32, h, w)
    conv 3x3, C*scale^2 filters             (B, 32, h, w) -> (B, C*scale^2, h, w)
    pixel shuffle                           -> (B, C, scale*h, scale*w)

The paper's network (l = 3, (f1, n1) = (5, 64), (f2, n2) = (3, 32), f3 = 3, tanh) on the Y channel
has ``(25*64 + 64) + (9*64*32 + 32) + (9*32*r^2 + r^2)`` parameters: 21,284 at x2, 22,729 at x3 and
24,752 at x4.
"""

from __future__ import annotations

import torch
from torch import nn

from srlab.models.layers import init_output_, same_conv


class ESPCN(nn.Module):
    """ESPCN keeping srlab's model contract ``net(lr) -> sr``.

    Args:
        scale: upscaling factor r.
        in_channels: 1 = Y channel of YCbCr (the paper's setting), 3 = RGB.
        f1, f2, f3: kernel sizes (5, 3, 3; odd).
        n1, n2: filters of the first two layers (64, 32).

    Shapes: ``lr (B, in_channels, h, w)`` -> ``sr (B, in_channels, scale*h, scale*w)``.
    """

    output_layer = "conv3"

    def __init__(
        self,
        scale: int = 3,
        in_channels: int = 1,
        f1: int = 5,
        f2: int = 3,
        f3: int = 3,
        n1: int = 64,
        n2: int = 32,
    ) -> None:
        super().__init__()
        self.scale = int(scale)
        self.in_channels = int(in_channels)
        self.conv1 = same_conv(in_channels, n1, f1, name="ESPCN f1")
        self.conv2 = same_conv(n1, n2, f2, name="ESPCN f2")
        self.conv3 = same_conv(n2, in_channels * self.scale**2, f3, name="ESPCN f3")
        self.pixel_shuffle = nn.PixelShuffle(self.scale)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # Xavier (Glorot) for the tanh layers; a small linear output layer so training starts from a
        # near-zero image instead of a random checkerboard.
        for conv in (self.conv1, self.conv2):
            nn.init.xavier_normal_(conv.weight, gain=nn.init.calculate_gain("tanh"))
            nn.init.zeros_(conv.bias)
        init_output_(self.conv3)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        y = torch.tanh(self.conv1(lr))
        y = torch.tanh(self.conv2(y))
        return self.pixel_shuffle(self.conv3(y))  # (B, C*r^2, h, w) -> (B, C, r*h, r*w)
