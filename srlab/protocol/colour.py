"""BT.601 YCbCr <-> RGB, consistent with the metrics' :func:`srlab.protocol.metrics.rgb_to_y`.

The SR literature's convention (MATLAB ``rgb2ycbcr``/``ycbcr2rgb``): RGB in [0, 1],
``Y = 16 + 65.481 R + 128.553 G + 24.966 B``,
``Cb = 128 - 37.797 R - 74.203 G + 112.0 B``,
``Cr = 128 + 112.0 R - 93.786 G - 18.214 B`` (on 0..255, here divided by 255, so Y lies in
[16/255, 235/255] and Cb/Cr in [16/255, 240/255]). The inverse is the exact matrix inverse
(float64), so ``ycbcr_to_rgb(rgb_to_ycbcr(x)) == x`` to float rounding.
"""

from __future__ import annotations

from functools import lru_cache

import torch

from srlab.protocol.metrics import rgb_to_y

__all__ = ["rgb_to_ycbcr", "ycbcr_to_rgb"]

_CB = (-37.797, -74.203, 112.0)
_CR = (112.0, -93.786, -18.214)
_OFFSET = (16.0, 128.0, 128.0)


@lru_cache(maxsize=1)
def _inverse() -> torch.Tensor:
    from srlab.protocol.metrics import _BT601_Y

    forward = torch.tensor([_BT601_Y, _CB, _CR], dtype=torch.float64) / 255.0  # (3, 3) on [0,1]
    return torch.linalg.inv(forward)


def rgb_to_ycbcr(rgb: torch.Tensor) -> torch.Tensor:
    """``(…, 3, H, W)`` RGB in [0, 1] -> ``(…, 3, H, W)`` YCbCr / 255 (Y exactly ``rgb_to_y``)."""
    r, g, b = rgb.unbind(dim=-3)
    y = rgb_to_y(rgb).squeeze(-3)
    cb = (_OFFSET[1] + _CB[0] * r + _CB[1] * g + _CB[2] * b) / 255.0
    cr = (_OFFSET[2] + _CR[0] * r + _CR[1] * g + _CR[2] * b) / 255.0
    return torch.stack([y, cb, cr], dim=-3)


def ycbcr_to_rgb(ycbcr: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`rgb_to_ycbcr`: ``(…, 3, H, W)`` YCbCr / 255 -> RGB (not clamped)."""
    inv = _inverse().to(device=ycbcr.device, dtype=ycbcr.dtype)  # (3, 3)
    offset = torch.tensor(_OFFSET, dtype=ycbcr.dtype, device=ycbcr.device) / 255.0
    centred = ycbcr - offset[:, None, None]
    return torch.einsum("ij,...jhw->...ihw", inv, centred)
