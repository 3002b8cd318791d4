"""MATLAB-compatible bicubic resizing (``imresize(..., 'bicubic')``), batched and device-agnostic.

MATLAB's algorithm, which every classic SR paper used to make LR images and bicubic baselines:
the cubic convolution kernel with a = -0.5, widened by ``1/scale`` when downscaling (antialiasing),
symmetric ("mirror") boundary handling, output size ``ceil(in * scale)``, and the two dimensions
resized one after the other (the one with the smaller scale factor first).

Implementation: for each dimension we compute MATLAB's ``contributions`` (a small table of input
indices and weights per output index, in float64, boundary mirroring folded into the indices) and
apply it as one dense ``(out, in)`` matrix product per dimension (mirrored taps summed into the
matrix; BLAS makes this the fastest form up to a few thousand pixels per side), or, for larger
images, as a gather + weighted sum whose cost is linear in image size. No Python loop over pixels.

The products run in full float32 (or float64) whatever the caller's precision settings (TF32,
``matmul_precision``, autocast; :func:`srlab.utils.precision.full_float32`): LR images, the
pre-upsampling of SRCNN/VDSR and the bicubic baselines never depend on the trainer's precision.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch

from srlab.utils.precision import full_float32

__all__ = [
    "imresize",
    "resized_length",
    "cubic",
    "contributions",
    "quantize",
    "to_uint8",
    "from_uint8",
]


def cubic(x: torch.Tensor) -> torch.Tensor:
    """Keys' cubic convolution kernel with a = -0.5 (MATLAB's ``cubic``)."""
    absx = x.abs()
    absx2 = absx * absx
    absx3 = absx2 * absx
    return (1.5 * absx3 - 2.5 * absx2 + 1) * (absx <= 1) + (
        -0.5 * absx3 + 2.5 * absx2 - 4 * absx + 2
    ) * ((absx > 1) & (absx <= 2))


@lru_cache(maxsize=256)
def _contributions_cpu(
    in_length: int, out_length: int, scale: float, antialias: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    kernel_width = 4.0
    if scale < 1 and antialias:
        kernel_width = kernel_width / scale

        def kernel(v: torch.Tensor) -> torch.Tensor:
            return scale * cubic(scale * v)
    else:
        kernel = cubic
    x = torch.arange(1, out_length + 1, dtype=torch.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)  # input-space coordinate (1-based) of each output
    left = torch.floor(u - kernel_width / 2)
    taps = math.ceil(kernel_width) + 2
    indices = left[:, None] + torch.arange(taps, dtype=torch.float64)[None, :]  # (out, taps)
    weights = kernel(u[:, None] - indices)
    weights = weights / weights.sum(dim=1, keepdim=True)
    # Symmetric padding, folded into the indices: MATLAB's aux = [1:n, n:-1:1].
    aux = torch.cat([torch.arange(in_length), torch.arange(in_length - 1, -1, -1)])
    idx = aux[torch.remainder(indices.long() - 1, 2 * in_length)]
    # MATLAB drops tap columns whose weights are all zero; dropping them changes nothing
    # numerically but keeps the gather small.
    keep = weights.abs().sum(dim=0) > 0
    return weights[:, keep].contiguous(), idx[:, keep].contiguous()


def contributions(
    in_length: int, out_length: int, scale: float, antialias: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """MATLAB ``contributions``: float64 weights and 0-based input indices, both ``(out, taps)``."""
    # Cached tables must be ordinary tensors even when first built under torch.inference_mode()
    # (validation, evaluation): inference tensors cannot be used later by autograd in training.
    with torch.inference_mode(False):
        return _contributions_cpu(int(in_length), int(out_length), float(scale), bool(antialias))


# Above this many matrix entries a dimension is resized by gather + weighted sum (linear cost)
# instead of one dense matrix product (quadratic, but BLAS-fast: 5-10x faster up to ~2K pixels).
_DENSE_MAX_ENTRIES = 1 << 23


@lru_cache(maxsize=64)
def _resize_matrix(
    in_length: int,
    out_length: int,
    scale: float,
    antialias: bool,
    device: torch.device,
    dtype: torch.dtype,
) -> torch.Tensor:
    """The dimension's resize as a dense ``(out, in)`` matrix (mirrored taps summed)."""
    # Cached across calls: built outside inference mode, or a matrix first made during
    # validation (inference mode) could not be used later in autograd-tracked code.
    with torch.inference_mode(False):
        weights, idx = contributions(in_length, out_length, scale, antialias)
        rows = torch.arange(out_length)[:, None].expand_as(idx)
        matrix = torch.zeros(out_length, in_length, dtype=torch.float64)
        matrix.index_put_((rows, idx), weights, accumulate=True)
        return matrix.to(device=device, dtype=dtype)


def _resize_dim(x: torch.Tensor, dim: int, out_length: int, scale: float, antialias: bool):
    """Resize ``x`` (float32/float64) along ``dim`` (-2 or -1) to ``out_length``."""
    in_length = x.shape[dim]
    if in_length * out_length <= _DENSE_MAX_ENTRIES:
        with torch.inference_mode(False):  # cached: see contributions()
            matrix = _resize_matrix(
                in_length, out_length, float(scale), bool(antialias), x.device, x.dtype
            )
        if dim == -1:
            return x @ matrix.T  # (..., H, in) @ (in, out)
        return matrix @ x  # (out, in) @ (..., in, W)
    weights, idx = contributions(in_length, out_length, scale, antialias)
    weights = weights.to(device=x.device, dtype=x.dtype)
    idx = idx.to(x.device)
    taps = idx.shape[1]
    x = x.movedim(dim, -1)  # (..., in)
    gathered = x.index_select(-1, idx.reshape(-1)).unflatten(
        -1, (out_length, taps)
    )  # (..., out, taps)
    out = (gathered * weights).sum(-1)
    return out.movedim(-1, dim)


def _tracing() -> bool:
    return torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()


def resized_length(in_length: int, scale: float) -> int:
    """MATLAB's output length ``ceil(in_length * scale)``.

    The product is rounded to 8 decimals first, so that float noise such as ``33 * (1/3) =
    11.000000000000002`` does not add a pixel (MATLAB computes the same size).
    """
    return math.ceil(round(in_length * scale, 8))


def imresize(
    x: torch.Tensor,
    scale: float | tuple[float, float] | None = None,
    size: tuple[int, int] | None = None,
    antialias: bool = True,
) -> torch.Tensor:
    """Resize like MATLAB ``imresize(x, scale, 'bicubic')``.

    Args:
        x: ``(B, C, H, W)`` or ``(C, H, W)`` float tensor (any range; values are not clamped).
            Half/bfloat16 inputs are computed in float32 and cast back; the products are full
            float32 under TF32, ``matmul_precision`` and autocast settings too.
        scale: factor(s) ``(sH, sW)`` or one factor for both; ``< 1`` shrinks. E.g. ``1/3`` makes a
            x3 LR image; ``3`` upsamples it.
        size: output ``(H_out, W_out)``; if given with ``scale=None`` the scale per dimension is
            ``out / in``, as MATLAB does.
        antialias: widen the kernel when downscaling (MATLAB's default ``true``).

    Returns:
        ``(B, C, ceil(H*sH), ceil(W*sW))`` tensor of ``x``'s dtype.
    """
    if scale is None and size is None:
        raise ValueError("imresize needs scale or size")
    squeeze = x.dim() == 3
    if squeeze:
        x = x.unsqueeze(0)
    if x.dim() != 4:
        raise ValueError(f"imresize expects (B,C,H,W) or (C,H,W), got shape {tuple(x.shape)}")
    if _tracing() and size is None and isinstance(scale, int) and scale >= 1:
        # ONNX/TorchScript export: the index tables below would freeze the traced input size;
        # the conv + pixel-shuffle form of integer upsampling traces with dynamic H and W.
        from srlab.degradations.bicubic_conv import bicubic_upsample_conv

        out = bicubic_upsample_conv(x, scale)
        return out.squeeze(0) if squeeze else out
    with full_float32(x.device.type):
        out = _imresize(x, scale, size, antialias)
    return out.squeeze(0) if squeeze else out


def _imresize(
    x: torch.Tensor,
    scale: float | tuple[float, float] | None,
    size: tuple[int, int] | None,
    antialias: bool,
) -> torch.Tensor:
    """:func:`imresize` of a ``(B, C, H, W)`` tensor (inside :func:`full_float32`)."""
    in_h, in_w = x.shape[-2:]
    if size is not None:
        out_h, out_w = int(size[0]), int(size[1])
        if scale is None:
            sh, sw = out_h / in_h, out_w / in_w
        else:
            sh, sw = (scale, scale) if isinstance(scale, (int, float)) else scale
    else:
        sh, sw = (scale, scale) if isinstance(scale, (int, float)) else scale
        out_h, out_w = resized_length(in_h, sh), resized_length(in_w, sw)
    orig_dtype = x.dtype
    if orig_dtype not in (torch.float32, torch.float64):
        x = x.float()
    # MATLAB resizes the dimension with the smaller scale factor first (height on ties).
    order = [(-2, out_h, sh), (-1, out_w, sw)]
    if sw < sh:
        order.reverse()
    for dim, out_len, s in order:
        x = _resize_dim(x, dim, out_len, s, antialias)
    return x.to(orig_dtype)


def quantize(x: torch.Tensor) -> torch.Tensor:
    """Round a [0, 1] float image to the uint8 grid (MATLAB's uint8 conversion), staying float.

    Values are exactly ``k / 255``. When ``x`` requires grad, the rounding passes gradients
    straight through (identity), so a degradation that ends in quantization stays differentiable.
    """
    # In place on one fresh tensor: the same operations as floor(clamp(x) * 255 + 0.5) / 255.
    q = x.detach().clamp(0, 1).mul_(255).add_(0.5).floor_().div_(255)
    if x.requires_grad:
        return x + (q - x).detach()
    return q


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """[0, 1] float -> uint8 with MATLAB's rounding (round half away from zero; clamp)."""
    return torch.floor(x.clamp(0, 1) * 255 + 0.5).to(torch.uint8)


def from_uint8(x: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """uint8 -> float in [0, 1]."""
    return x.to(dtype) / 255
