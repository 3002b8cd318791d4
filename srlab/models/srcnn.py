"""SRCNN — Dong, Loy, He, Tang. "Image Super-Resolution Using Deep Convolutional Networks",
ECCV 2014 / TPAMI 2016.

Three convolutions on the bicubic-upsampled image: patch extraction (f1 x f1, n1 filters), ReLU,
non-linear mapping (f2 x f2, n2 filters), ReLU, reconstruction (f3 x f3, linear). The paper's
networks are named f1-f2-f3: 9-1-5 (the original ECCV one), 9-3-5 and 9-5-5 (best in TPAMI).
'Same' zero padding keeps the spatial size, so the output aligns with the HR image.
"""

from __future__ import annotations

import torch
from torch import nn

from srlab.degradations.resize import imresize
from srlab.models.layers import init_hidden_, init_output_, same_conv, upsampling_deconv


class SRCNN(nn.Module):
    """SRCNN keeping srlab's model contract ``net(lr) -> sr``.

    Args:
        scale: upscaling factor; the first step of ``forward`` is MATLAB-style bicubic upsampling of
            the LR input by ``scale`` (the paper's pre-processing).
        in_channels: 1 = Y channel of YCbCr (the paper's setting), 3 = RGB.
        f1, f2, f3: kernel sizes of the three layers (odd).
        n1, n2: filters of the first two layers (64 and 32 in the paper).

    Shapes: ``lr (B, in_channels, h, w)`` -> ``sr (B, in_channels, scale*h, scale*w)``.
    Parameters (Y, 9-5-5): 9*9*64+64 + 5*5*64*32+32 + 5*5*32+1 = 57,281.
    """

    output_layer = "conv3"

    def __init__(
        self,
        scale: int = 3,
        in_channels: int = 1,
        f1: int = 9,
        f2: int = 5,
        f3: int = 5,
        n1: int = 64,
        n2: int = 32,
    ) -> None:
        super().__init__()
        self.scale = int(scale)
        self.in_channels = int(in_channels)
        self.conv1 = same_conv(in_channels, n1, f1, name="SRCNN f1")
        self.conv2 = same_conv(n1, n2, f2, name="SRCNN f2")
        self.conv3 = same_conv(n2, in_channels, f3, name="SRCNN f3")
        self.relu = nn.ReLU(inplace=True)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # The paper draws weights from N(0, 0.001) (SGD); with Adam, He-normal for the ReLU layers and
        # a small-variance linear output layer train much faster to the same result.
        init_hidden_((self.conv1, self.conv2))
        init_output_(self.conv3)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        x = imresize(lr, self.scale)  # (B, C, s*h, s*w), the paper's interpolated input
        y = self.relu(self.conv1(x))
        y = self.relu(self.conv2(y))
        return self.conv3(y)


class SRCNNDeconv(nn.Module):
    """SRCNN read as a post-upsampling network: its three steps with the third one a deconvolution.

    Patch extraction and non-linear mapping run on the LR grid (``f1 x f1``, ``n1`` filters, ReLU;
    ``f2 x f2``, ``n2`` filters, ReLU); reconstruction is a learned transposed convolution of the
    ``n2`` feature maps with stride ``scale`` (``deconv_kernel x deconv_kernel``, FSRCNN's 9 by
    default, padded so the output is exactly ``scale`` times larger). Same first two layers as
    :class:`SRCNN`, but their cost is ``scale^2`` times lower, so ``model=srcnn`` vs
    ``model=srcnn_deconv`` compares pre- and post-upsampling directly.

    Args:
        scale: upscaling factor (the deconvolution's stride).
        in_channels: 1 = Y channel of YCbCr (the paper's setting), 3 = RGB.
        f1, f2: kernel sizes of the two LR-grid layers (odd).
        n1, n2: filters of the two LR-grid layers (64 and 32).
        deconv_kernel: kernel size of the upsampling reconstruction layer.

    Shapes: ``lr (B, in_channels, h, w)`` -> ``(B, n2, h, w)`` -> ``sr (B, in_channels, scale*h, scale*w)``.
    Parameters (Y, 9-5, deconv 9): 9*9*64+64 + 5*5*64*32+32 + 9*9*32+1 = 59,073.
    """

    output_layer = "deconv"

    def __init__(
        self,
        scale: int = 3,
        in_channels: int = 1,
        f1: int = 9,
        f2: int = 5,
        n1: int = 64,
        n2: int = 32,
        deconv_kernel: int = 9,
    ) -> None:
        super().__init__()
        self.scale = int(scale)
        self.in_channels = int(in_channels)
        self.conv1 = same_conv(in_channels, n1, f1, name="SRCNN f1")
        self.conv2 = same_conv(n1, n2, f2, name="SRCNN f2")
        self.deconv = upsampling_deconv(n2, in_channels, deconv_kernel, self.scale)
        self.relu = nn.ReLU(inplace=True)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init_hidden_((self.conv1, self.conv2))
        init_output_(self.deconv)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.conv1(lr))  # (B, n1, h, w)
        y = self.relu(self.conv2(y))  # (B, n2, h, w)
        return self.deconv(y)  # (B, in_channels, s*h, s*w)
