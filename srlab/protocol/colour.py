"""Colour, in one place: BT.601 YCbCr and the conversions between images and networks.

The SR literature's convention (MATLAB ``rgb2ycbcr``/``ycbcr2rgb``): RGB in [0, 1],
``Y = 16 + 65.481 R + 128.553 G + 24.966 B``,
``Cb = 128 - 37.797 R - 74.203 G + 112.0 B``,
``Cr = 128 + 112.0 R - 93.786 G - 18.214 B`` (on 0..255, here divided by 255, so Y lies in
[16/255, 235/255] and Cb/Cr in [16/255, 240/255]). The inverse is the exact matrix inverse
(float64), so ``ycbcr_to_rgb(rgb_to_ycbcr(x)) == x`` to float rounding.

Images are ``(…, C, H, W)`` with C = 3 (RGB) or C = 1 (grey). A network's colour mode is its
``in_channels``: 1 = it works on Y (a grey image is fed as it is), 3 = RGB (a grey image is fed as
three equal channels). :func:`to_model_space` and :func:`to_image_space` are the two directions;
training, scoring, the W&B panels and inference all go through them.
"""

from __future__ import annotations

from functools import lru_cache

import torch

__all__ = [
    "rgb_to_y",
    "rgb_to_cbcr",
    "rgb_to_ycbcr",
    "ycbcr_to_rgb",
    "ycbcr_to_rgb_integer",
    "to_model_space",
    "to_image_space",
]

_Y = (65.481, 128.553, 24.966)
_CB = (-37.797, -74.203, 112.0)
_CR = (112.0, -93.786, -18.214)
_OFFSET = (16.0, 128.0, 128.0)


def _row(
    rgb: torch.Tensor, coefficients: tuple[float, float, float], offset: float
) -> torch.Tensor:
    """``(offset + c0 r + c1 g + c2 b) / 255`` of ``rgb (…,3,H,W)`` -> ``(…,H,W)``, left to right.

    The sums and the division are done in place on two buffers instead of seven fresh tensors: the
    same operations in the same order (bit-identical results), with less memory traffic, which is
    most of its cost in a CPU training step (0.17 -> 0.12 ms for Y of 64 x 3 x 48 x 48 px).
    """
    r, g, b = rgb.unbind(dim=-3)
    out = torch.mul(r, coefficients[0])
    out.add_(offset)  # offset + c0 r (addition is commutative in floating point)
    term = torch.mul(g, coefficients[1])
    out.add_(term)
    if rgb.requires_grad or torch.jit.is_tracing():  # out= is neither differentiable nor traced
        term = torch.mul(b, coefficients[2])
    else:
        torch.mul(b, coefficients[2], out=term)
    out.add_(term)
    return out.div_(255.0)


def rgb_to_y(rgb: torch.Tensor) -> torch.Tensor:
    """BT.601 luma of ``rgb (…,3,H,W)`` in [0,1] -> ``(…,1,H,W)`` in [16/255, 235/255].

    ``(16 + 65.481 r + 128.553 g + 24.966 b) / 255``, evaluated left to right.
    """
    return _row(rgb, _Y, _OFFSET[0]).unsqueeze(-3)


def rgb_to_cbcr(rgb: torch.Tensor) -> torch.Tensor:
    """BT.601 chroma of ``rgb (…,3,H,W)`` in [0,1] -> ``(…,2,H,W)`` Cb, Cr in [16/255, 240/255].

    Exactly ``rgb_to_ycbcr(rgb)[..., 1:, :, :]`` without computing Y (an RGB upscale by a Y network
    needs the input's chroma only).
    """
    return torch.stack([_row(rgb, _CB, _OFFSET[1]), _row(rgb, _CR, _OFFSET[2])], dim=-3)


@lru_cache(maxsize=1)
def _inverse() -> torch.Tensor:
    forward = torch.tensor([_Y, _CB, _CR], dtype=torch.float64) / 255.0  # (3, 3) on [0,1]
    return torch.linalg.inv(forward)


def rgb_to_ycbcr(rgb: torch.Tensor) -> torch.Tensor:
    """``(…, 3, H, W)`` RGB in [0, 1] -> ``(…, 3, H, W)`` YCbCr / 255 (Y exactly ``rgb_to_y``)."""
    return torch.cat([rgb_to_y(rgb), rgb_to_cbcr(rgb)], dim=-3)


def ycbcr_to_rgb(ycbcr: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`rgb_to_ycbcr`: ``(…, 3, H, W)`` YCbCr / 255 -> RGB (not clamped)."""
    inv = _inverse().to(device=ycbcr.device, dtype=ycbcr.dtype)  # (3, 3)
    offset = torch.tensor(_OFFSET, dtype=ycbcr.dtype, device=ycbcr.device) / 255.0
    centred = ycbcr - offset[:, None, None]
    return torch.einsum("ij,...jhw->...ihw", inv, centred)


def interleaved_integer_image(
    b: int, c: int, h: int, w: int, dtype: torch.dtype, device: torch.device | str
) -> torch.Tensor:
    """An empty ``(b, c, h, w)`` ``dtype`` image in channels-last memory: interleaved pixels, as
    image files and arrays store them, so a copy of it into an ``(H, W, C)`` array is a row copy."""
    return torch.empty((b, h, w, c), dtype=dtype, device=device).permute(0, 3, 1, 2)


def copy_truncated(dst: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """``dst`` (integer) <- ``values`` (float >= 0) truncated, which is flooring them.

    Float -> uint16 goes through int32 (uint16 is a partly supported dtype in torch)."""
    return dst.copy_(values if dst.dtype in (torch.uint8, torch.int32) else values.to(torch.int32))


@lru_cache(maxsize=4)
def _integer_rgb_affine(max_value: int) -> tuple[tuple[tuple[float, float, float], ...], tuple]:
    """``A (3, 3)``, ``k (3,)`` with ``max_value * ycbcr_to_rgb(ycbcr) + 0.5 = A @ ycbcr + k``."""
    inv = _inverse()
    offset = torch.tensor(_OFFSET, dtype=torch.float64) / 255.0
    a = inv * max_value
    k = -(inv @ offset) * max_value + 0.5
    return tuple(tuple(row) for row in a.tolist()), tuple(k.tolist())


def ycbcr_to_rgb_integer(
    y: torch.Tensor, cbcr: torch.Tensor, max_value: int = 255, dtype: torch.dtype = torch.uint8
) -> torch.Tensor:
    """Y ``(B, 1, H, W)`` and Cb/Cr ``(B, 2, H, W)`` (float, / 255 as :func:`rgb_to_ycbcr`) ->
    RGB on the integer grid of ``max_value``, ``(B, 3, H, W)`` ``dtype`` in channels-last memory
    (interleaved pixels, as image files and arrays store them).

    The value of ``floor(clamp(ycbcr_to_rgb(ycbcr), 0, 1) * max_value + 0.5)``, computed per channel
    as one affine map of Y, Cb and Cr (the inverse matrix, ``max_value`` and the 0.5 folded in),
    clamped and truncated into the output: 4 passes over each output channel instead of ~10 over
    all three. At output size these passes cost as much as a small network's layer (SRCNN 9-1-5
    x3 upscales ~2% faster, BENCHMARKS.md inference). Float rounding differs from the unfused
    form, so a value within ~1e-4 of a rounding boundary can land one level apart (~3e-5 of the
    values of a photo).
    """
    if dtype.is_floating_point or dtype.is_complex:
        raise ValueError(f"ycbcr_to_rgb_integer makes integer pixels, not {dtype}")
    a, k = _integer_rgb_affine(int(max_value))
    b, _, h, w = y.shape
    out = interleaved_integer_image(b, 3, h, w, dtype, y.device)
    planes = (y, cbcr[:, 0:1], cbcr[:, 1:2])
    for c in range(3):
        v = torch.mul(planes[0], a[c][0])
        v.add_(planes[1], alpha=a[c][1])
        v.add_(planes[2], alpha=a[c][2])
        v.add_(k[c]).clamp_(0, max_value + 0.5)  # truncating a value >= 0 is flooring it
        copy_truncated(out[:, c : c + 1], v)
    return out


def to_model_space(x: torch.Tensor, in_channels: int) -> torch.Tensor:
    """Image ``(…, C, H, W)`` (C = 1 grey or 3 RGB) -> the network's colour mode.

    1-channel networks get BT.601 Y of RGB (a grey image is used as it is); 3-channel networks get
    RGB (a grey image is repeated to 3 channels).
    """
    c = x.shape[-3]
    if in_channels == c:
        return x
    if in_channels == 1 and c == 3:
        return rgb_to_y(x)
    if in_channels == 3 and c == 1:
        return x.expand(*x.shape[:-3], 3, *x.shape[-2:])
    raise ValueError(f"cannot feed a {c}-channel image to a {in_channels}-channel network")


def to_image_space(
    out: torch.Tensor,
    image_channels: int,
    chroma: torch.Tensor | None = None,
) -> torch.Tensor:
    """A network's output ``(…, C', H, W)`` -> an image of ``image_channels`` channels.

    * same number of channels: unchanged;
    * a Y output for an RGB image: RGB from that Y and the Cb/Cr of ``chroma`` ``(…, 3, H, W)``,
      an RGB image of the same size (the SR convention: the bicubic-upsampled input's colour);
    * an RGB output for a grey image: the mean of the three channels.

    Not clamped (callers round to their integer grid).
    """
    c = out.shape[-3]
    if c == image_channels:
        return out
    if c == 1 and image_channels == 3:
        if chroma is None:
            raise ValueError("a Y output needs the chroma of an RGB image to become RGB")
        return ycbcr_to_rgb(torch.cat([out, rgb_to_cbcr(chroma.to(out.dtype))], dim=-3))
    if c == 3 and image_channels == 1:
        return out.mean(dim=-3, keepdim=True)
    raise ValueError(f"cannot turn a {c}-channel output into a {image_channels}-channel image")
