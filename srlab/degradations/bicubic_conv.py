"""MATLAB bicubic *upsampling by an integer factor* as a convolution + pixel shuffle.

For an integer factor ``s`` the MATLAB ``contributions`` table is periodic: output pixel
``s*k + p`` reads input pixels ``k-2 … k+2`` with weights that depend only on the phase ``p``.
So the whole 2-D resize is one grouped 5x5 convolution producing ``s*s`` phases per channel,
followed by ``pixel_shuffle(s)``, after MATLAB's symmetric (mirror) padding of 2 pixels.

Unlike :func:`srlab.degradations.resize.imresize` (index tables computed in Python from the input
size), every op here traces symbolically, so ONNX/TorchScript exports keep a dynamic height and
width. :func:`imresize` routes integer upscaling here while tracing or exporting; numerically the
two agree to float rounding (separable vs 2-D sum), which ``tests/test_export.py`` checks.
"""

from __future__ import annotations

from functools import lru_cache

import torch
import torch.nn.functional as F

from srlab.degradations.resize import cubic
from srlab.utils.precision import full_float32

__all__ = ["bicubic_upsample_conv", "phase_kernels"]


@lru_cache(maxsize=16)
def _phase_kernels_cpu(scale: int) -> torch.Tensor:
    # Output pixel s*k + p (0-based) sits at input coordinate k + d_p, d_p = (p + 0.5)/s - 0.5
    # (MATLAB's u = x/s + 0.5(1 - 1/s), shifted to 0-based). Taps at offsets -2..2 cover the
    # kernel's support (|d_p - t| < 2 since |d_p| < 0.5).
    offsets = torch.arange(-2, 3, dtype=torch.float64)
    d = (torch.arange(scale, dtype=torch.float64) + 0.5) / scale - 0.5
    w = cubic(d[:, None] - offsets[None, :])  # (s, 5)
    w = w / w.sum(dim=1, keepdim=True)  # MATLAB normalises each row
    # 2-D kernels, phase (py, px) -> channel py*s + px as pixel_shuffle expects.
    k2 = w[:, None, :, None] * w[None, :, None, :]  # (s, s, 5, 5)
    return k2.reshape(scale * scale, 1, 5, 5)


def phase_kernels(scale: int) -> torch.Tensor:
    """``(s*s, 1, 5, 5)`` float64 kernels of MATLAB bicubic upsampling by the integer ``scale``."""
    with torch.inference_mode(False):  # cached: never an inference tensor
        return _phase_kernels_cpu(int(scale))


def _symmetric_pad2(x: torch.Tensor) -> torch.Tensor:
    """MATLAB/numpy 'symmetric' padding by 2 on H and W (edge pixel repeated): needs H, W >= 2.

    Built from slices with constant (negative) bounds and ``cat`` so that it traces for any size.
    """
    x = torch.cat([x[..., 1:2, :], x[..., 0:1, :], x, x[..., -1:, :], x[..., -2:-1, :]], dim=-2)
    return torch.cat([x[..., 1:2], x[..., 0:1], x, x[..., -1:], x[..., -2:-1]], dim=-1)


def bicubic_upsample_conv(x: torch.Tensor, scale: int) -> torch.Tensor:
    """MATLAB ``imresize(x, scale, 'bicubic')`` for an integer ``scale >= 1``, traceable.

    Args:
        x: ``(B, C, H, W)`` float tensor with ``H, W >= 2``.
        scale: integer upscaling factor.

    Returns:
        ``(B, C, scale*H, scale*W)``, same dtype as ``x`` (half is computed in float32; full
        float32 whatever the TF32/autocast settings).
    """
    scale = int(scale)
    if scale == 1:
        return x
    orig_dtype = x.dtype
    if orig_dtype not in (torch.float32, torch.float64):
        x = x.float()
    # Channels folded into the batch: the kernel then has a constant shape (the ONNX exporter
    # needs that), whatever the number of channels.
    planes = x.reshape(-1, 1, x.shape[-2], x.shape[-1])  # (B*C, 1, H, W)
    weight = phase_kernels(scale).to(device=x.device, dtype=x.dtype)  # (s*s, 1, 5, 5)
    with full_float32(x.device.type):  # no TF32/bf16 convolution (cuDNN, oneDNN) or autocast
        y = F.pixel_shuffle(F.conv2d(_symmetric_pad2(planes), weight), scale)  # (B*C, 1, sH, sW)
    return y.reshape(x.shape[0], x.shape[1], y.shape[-2], y.shape[-1]).to(orig_dtype)
