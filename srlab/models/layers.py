"""Building blocks shared by the model families: convolutions, residual blocks, upsamplers and
weight initialisation.

Every model also declares its **output layer** (the class attribute ``output_layer``: the name of the
submodule that produces the image, e.g. SRCNN's ``"conv3"``), as timm models declare
``classifier``; the LightningModule gives that layer the paper's smaller learning rate
(``last_layer_lr_scale``) and refuses a model that does not declare one (:func:`output_layer_of`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

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


def upsampling_deconv(in_channels: int, out_channels: int, kernel: int, scale: int) -> nn.Module:
    """A stride-``scale`` transposed convolution: ``(B, in, h, w)`` -> ``(B, out, s*h, s*w)`` exactly."""
    padding, output_padding = deconv_padding(kernel, scale)
    return nn.ConvTranspose2d(
        in_channels,
        out_channels,
        kernel,
        stride=scale,
        padding=padding,
        output_padding=output_padding,
    )


class ResBlock(nn.Module):
    """``x + res_scale * conv(relu(conv(x)))`` with 3x3 convolutions, no batch norm (EDSR);
    ``(B, F, h, w)`` -> same."""

    def __init__(self, features: int, res_scale: float = 1.0) -> None:
        super().__init__()
        self.conv1 = same_conv(features, features, 3)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = same_conv(features, features, 3)
        self.res_scale = float(res_scale)

    def forward(self, x):
        return x + self.res_scale * self.conv2(self.relu(self.conv1(x)))


class SubPixelUpsampler(nn.Sequential):
    """Sub-pixel upsampling ``(B, F, h, w)`` -> ``(B, F, s*h, s*w)``: one x``s`` stage (conv 3x3 to
    ``F*s^2`` channels + pixel shuffle) for s = 2, 3, successive x2 stages for powers of two
    (EDSR's ``Upsampler``)."""

    def __init__(self, scale: int, features: int) -> None:
        if scale & (scale - 1) == 0 and scale >= 2:  # 2, 4, 8, ...: log2(scale) x2 stages
            stages = [2] * int(math.log2(scale))
        elif scale >= 2:
            stages = [scale]
        else:
            raise ValueError(f"sub-pixel upsampling needs scale >= 2, got {scale}")
        layers: list[nn.Module] = []
        for r in stages:
            layers += [same_conv(features, features * r * r, 3), nn.PixelShuffle(r)]
        super().__init__(*layers)


def init_hidden_(modules: Iterable[nn.Module], nonlinearity: str = "relu", a: float = 0.0) -> None:
    """He (Kaiming) normal weights and zero biases for every convolution among ``modules``."""
    for module in modules:
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.kaiming_normal_(module.weight, a=a, nonlinearity=nonlinearity)
            nn.init.zeros_(module.bias)


def init_output_(layer: nn.Module, std: float = 1e-3) -> None:
    """A small-variance linear output layer (N(0, std), zero bias): training starts from a
    near-zero output (or, with a global residual, from the bicubic image) instead of noise."""
    nn.init.normal_(layer.weight, std=std)
    nn.init.zeros_(layer.bias)


def output_layer_of(net: nn.Module) -> nn.Module | None:
    """The submodule ``net.output_layer`` names (``None`` for a model without learned layers).

    Raises:
        ValueError: the model declares no ``output_layer``, or names no submodule.
    """
    if not hasattr(net, "output_layer"):
        raise ValueError(
            f"{type(net).__name__} does not declare its output layer: set the class attribute "
            "output_layer = '<submodule name>' (None if it has no learned layer)"
        )
    name = net.output_layer
    if name is None:
        return None
    try:
        return net.get_submodule(name)
    except AttributeError as e:
        raise ValueError(
            f"{type(net).__name__}.output_layer = {name!r} names no submodule of the network"
        ) from e
