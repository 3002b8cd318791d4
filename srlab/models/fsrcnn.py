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

The deconvolution's padding and output padding are chosen so that the output is exactly
``scale * h`` for every scale: ``(h-1)*scale - 2p + 9 + op = scale*h``, i.e. ``2p - op = 9 - scale``.
For odd scales the kernel centre lands on the centre of each LR pixel's ``scale x scale`` HR block
(as MATLAB's bicubic places it); for even scales no integer offset can, and the learned kernel
absorbs the remaining half-pixel shift.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def deconv_padding(kernel_size: int, scale: int) -> tuple[int, int]:
    """``(padding, output_padding)`` of a stride-``scale`` transposed conv giving ``scale*h`` exactly.

    Solves ``2p - op = kernel_size - scale`` with ``p >= 0`` and ``0 <= op < scale``.
    """
    padding = max(0, math.ceil((kernel_size - scale) / 2))
    output_padding = 2 * padding - (kernel_size - scale)
    if not 0 <= output_padding < scale:
        raise ValueError(
            f"no padding gives a {scale}x output for a {kernel_size}x{kernel_size} deconvolution"
        )
    return padding, output_padding


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
        padding, output_padding = deconv_padding(deconv_kernel, self.scale)
        # Registered last: SRModule treats it as the output layer (last_layer_lr_scale).
        self.deconv = nn.ConvTranspose2d(
            d,
            in_channels,
            deconv_kernel,
            stride=self.scale,
            padding=padding,
            output_padding=output_padding,
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # The paper: MSRA (He) initialisation for the PReLU layers, N(0, 0.001) for the deconvolution.
        for module in self.body:
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, a=0.25, nonlinearity="leaky_relu")
                nn.init.zeros_(module.bias)
        nn.init.normal_(self.deconv.weight, std=1e-3)
        nn.init.zeros_(self.deconv.bias)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        return self.deconv(self.body(lr))
