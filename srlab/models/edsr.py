"""EDSR — Lim, Son, Kim, Nah, Lee. "Enhanced Deep Residual Networks for Single Image
Super-Resolution", CVPR Workshops (NTIRE) 2017. Here: the paper's baseline model.

A post-upsampling residual network on the LR image (no batch normalisation), with a sub-pixel
(pixel shuffle) upsampler at its end and the dataset mean subtracted/added around it:

    x = lr - mean                                           (B, C, h, w)
    head   conv 3x3, F                                      -> (B, F, h, w)
    body   B x [conv 3x3, ReLU, conv 3x3, * res_scale, + x]
           conv 3x3, F, plus the head's output (long skip)  -> (B, F, h, w)
    upsampler  x2/x3: conv 3x3, F*s^2 + pixel shuffle(s)
               x4 (any 2^k): k x [conv 3x3, 4F + pixel shuffle(2)]   -> (B, F, s*h, s*w)
    tail   conv 3x3, C                                      -> (B, C, s*h, s*w)
    sr = tail + mean

EDSR-baseline is B = 16 blocks, F = 64 features, res_scale = 1, on RGB. Its parameter count
(mean shift excluded: it is a fixed buffer here, not a weight):
common part ``(27*64 + 64) + 16*2*(9*64*64 + 64) + (9*64*64 + 64) + (9*64*3 + 3)`` = 1,222,147,
plus the upsampler: 147,712 at x2 (1,369,859 in all: "1.37M"), 332,352 at x3 (1,554,499: "1.55M"),
2 x 147,712 at x4 (1,517,571: "1.52M").
"""

from __future__ import annotations

import torch
from torch import nn

from srlab.models.layers import ResBlock, SubPixelUpsampler, same_conv
from srlab.protocol.colour import rgb_to_y

# DIV2K's RGB mean in [0, 1], as in the official EDSR code (rgb_mean = (0.4488, 0.4371, 0.4040)).
DIV2K_RGB_MEAN = (0.4488, 0.4371, 0.4040)


class EDSR(nn.Module):
    """EDSR (baseline by default) keeping srlab's model contract ``net(lr) -> sr``.

    Args:
        scale: upscaling factor.
        in_channels: 3 = RGB (the paper's setting), 1 = Y channel of YCbCr.
        num_blocks: residual blocks (16 baseline, 32 full EDSR).
        features: feature maps (64 baseline, 256 full EDSR).
        res_scale: residual scaling in each block (1 baseline, 0.1 full EDSR).
        data_mean: per-channel mean subtracted at the input and added at the output; ``None`` takes
            the DIV2K RGB mean (its BT.601 luma for ``in_channels=1``).

    Shapes: ``lr (B, in_channels, h, w)`` -> ``sr (B, in_channels, scale*h, scale*w)``.
    """

    output_layer = "tail"

    def __init__(
        self,
        scale: int = 3,
        in_channels: int = 3,
        num_blocks: int = 16,
        features: int = 64,
        res_scale: float = 1.0,
        data_mean: list[float] | None = None,
    ) -> None:
        super().__init__()
        self.scale = int(scale)
        self.in_channels = int(in_channels)
        if data_mean is None:
            rgb = torch.tensor(DIV2K_RGB_MEAN).view(1, 3, 1, 1)
            mean = rgb if in_channels == 3 else rgb_to_y(rgb).expand(1, in_channels, 1, 1)
        else:
            mean = torch.tensor([float(v) for v in data_mean]).view(1, -1, 1, 1)
            if mean.shape[1] != in_channels:
                raise ValueError(f"data_mean has {mean.shape[1]} values for {in_channels} channels")
        # A buffer, not a parameter: saved with the weights, never trained, not counted.
        self.register_buffer("mean", mean.float().contiguous())
        self.head = same_conv(in_channels, features, 3)
        self.body = nn.Sequential(
            *[ResBlock(features, res_scale) for _ in range(num_blocks)],
            same_conv(features, features, 3),
        )
        self.upsampler = SubPixelUpsampler(self.scale, features)
        self.tail = same_conv(features, in_channels, 3)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        x = self.head(lr - self.mean)  # (B, F, h, w)
        x = x + self.body(x)  # long skip connection
        return self.tail(self.upsampler(x)) + self.mean  # (B, C, s*h, s*w)
