"""FSRCNN — Dong, Loy, Tang. "Accelerating the Super-Resolution Convolutional Neural Network",
ECCV 2016.

An hourglass network that works on the LR image and upsamples at its very end with a learned
deconvolution (transposed convolution), which is what makes it much cheaper than SRCNN:

    feature extraction   conv 5x5, d filters, PReLU            (B, C, h, w)  -> (B, d, h, w)
    shrinking            conv 1x1, s filters, PReLU            (B, d, h, w)  -> (B, s, h, w)
    mapping              m x [conv 3x3, s filters, PReLU]      (B, s, h, w)  -> (B, s, h, w)
    expanding            conv 1x1, d filters, PReLU            (B, s, h, w)  -> (B, d, h, w)
    deconvolution        transposed conv 9x9, stride = scale   (B, d, h, w)  -> (B, C, s*h, s*w)

The paper's FSRCNN(d, s, m) = (56, 12, 4) counts its parameters as convolution weights only:
``25d + sd + 9ms^2 + ds + 81d`` = 12,464 on the Y channel. With biases (d+s+ms+d+1 = 173) and the
per-channel PReLU slopes (d+s+ms+d = 172) this module has 12,809 trainable parameters.

The deconvolution's padding and output padding (:func:`srlab.models.layers.deconv_padding`) are chosen so that the output is exactly
``scale * h`` for every scale: ``(h-1)*scale - 2p + 9 + op = scale*h``, i.e. ``2p - op = 9 - scale``.
For odd scales the kernel centre lands on the centre of each LR pixel's ``scale x scale`` HR block
(as MATLAB's bicubic places it); for even scales no integer offset can, and the learned kernel
absorbs the remaining half-pixel shift.
"""

from __future__ import annotations

import torch
from torch import nn

from srlab.models.layers import init_hidden_, init_output_, upsampling_deconv


class FSRCNN(nn.Module):
    """FSRCNN(d, s, m) keeping srlab's model contract ``net(lr) -> sr``.

    Args:
        scale: upscaling factor (the deconvolution's stride).
        in_channels: 1 = Y channel of YCbCr (the paper's setting), 3 = RGB.
        d: feature extraction / expanding filters (56).
        s: shrinking / mapping filters (12).
        m: number of 3x3 mapping layers (4).
        deconv_kernel: size of the deconvolution kernel (9).

    Shapes: ``lr (B, in_channels, h, w)`` -> ``sr (B, in_channels, scale*h, scale*w)``.
    """

    output_layer = "deconv"

    def __init__(
        self,
        scale: int = 3,
        in_channels: int = 1,
        d: int = 56,
        s: int = 12,
        m: int = 4,
        deconv_kernel: int = 9,
    ) -> None:
        super().__init__()
        self.scale = int(scale)
        self.in_channels = int(in_channels)
        layers: list[nn.Module] = [nn.Conv2d(in_channels, d, 5, padding=2), nn.PReLU(d)]
        layers += [nn.Conv2d(d, s, 1), nn.PReLU(s)]
        for _ in range(m):
            layers += [nn.Conv2d(s, s, 3, padding=1), nn.PReLU(s)]
        layers += [nn.Conv2d(s, d, 1), nn.PReLU(d)]
        self.body = nn.Sequential(*layers)
        self.deconv = upsampling_deconv(d, in_channels, deconv_kernel, self.scale)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # The paper: MSRA (He) initialisation for the PReLU layers, N(0, 0.001) for the deconvolution.
        init_hidden_(self.body, nonlinearity="leaky_relu", a=0.25)
        init_output_(self.deconv)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        return self.deconv(self.body(lr))
