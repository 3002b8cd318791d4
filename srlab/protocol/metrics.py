"""PSNR and SSIM as the SR literature computes them (the MATLAB-era evaluation protocol).

Protocol, per image:
1. the SR output is rounded to the uint8 grid (what a saved PNG would hold); the HR image, read
   from an 8-bit file, is put back on that grid too (float64), removing float32 rounding noise;
2. both images go to the Y channel of ITU-R BT.601 YCbCr on the [16, 235] scale,
   ``Y = 16 + 65.481 R + 128.553 G + 24.966 B`` with RGB in [0, 1].
   **srlab keeps Y as a float (not rounded to an integer)** — BasicSR's
   ``calculate_psnr(test_y_channel=True)`` convention. MATLAB's ``rgb2ycbcr`` on uint8 images
   rounds Y to an integer; pass ``round_y=True`` for that variant. The two differ by about
   0.01–0.02 dB (both reproduce the published bicubic baselines within 0.03 dB, which
   ``tests/test_evaluate_bicubic.py`` checks both ways).
   Greyscale images (1 channel) are scored on their grey channel;
3. ``crop_border`` pixels (usually ``scale``) are removed on each side;
4. PSNR = 10 log10(255² / MSE) in float64; SSIM = Wang et al.'s SSIM with an 11x11 Gaussian window
   (sigma 1.5), 'valid' filtering, K1 = 0.01, K2 = 0.03, L = 255, in float64 (the Gaussian is
   separable, so it is applied as two 1-D passes);
5. the reported figure is the mean over images (not over the pixels of a batch).

:mod:`srlab.training.metrics` wraps these per-image scores as torchmetrics accumulators for
validation (correct under DDP); this module imports torch only, so evaluation and inference start
fast.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from srlab.protocol.colour import rgb_to_y

__all__ = [
    "luma",
    "shave",
    "psnr_per_image",
    "ssim_per_image",
]


def luma(sr: torch.Tensor, hr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The pair of single-channel images the protocol scores.

    ``hr (B,C,H,W)`` is the ground truth in image space (C = 3 RGB or C = 1 grey). ``sr`` is a
    model output: 1 channel (a Y model's output, or a grey image) or 3 channels (RGB).
    RGB HR: both go to BT.601 Y (a 1-channel ``sr`` is already Y). Grey HR: the grey channel is
    scored; a 3-channel ``sr`` of a grey image is averaged back to grey.
    """
    if hr.shape[-3] == 3:
        hr_y = rgb_to_y(hr)
        sr_y = sr if sr.shape[-3] == 1 else rgb_to_y(sr)
    elif hr.shape[-3] == 1:
        hr_y = hr
        sr_y = sr if sr.shape[-3] == 1 else sr.mean(dim=-3, keepdim=True)
    else:
        raise ValueError(f"expected 1 or 3 channels, got {hr.shape[-3]}")
    return sr_y, hr_y


def shave(x: torch.Tensor, border: int) -> torch.Tensor:
    """Remove ``border`` pixels from each side of ``(…, H, W)``."""
    if border <= 0:
        return x
    return x[..., border:-border, border:-border]


def _prepare(
    sr: torch.Tensor, hr: torch.Tensor, crop_border: int, round_y: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Quantize, take the scored luma of both, shave -> float64 ``(B,1,H',W')`` on [0, 255]."""
    if sr.shape[-2:] != hr.shape[-2:]:
        raise ValueError(f"SR {tuple(sr.shape)} and HR {tuple(hr.shape)} differ in size")
    if sr.dim() == 3:
        sr, hr = sr.unsqueeze(0), hr.unsqueeze(0)
    if 2 * crop_border >= min(hr.shape[-2:]):
        raise ValueError(
            f"crop_border={crop_border} leaves nothing of a {tuple(hr.shape[-2:])} image"
        )
    # Both on the uint8 grid, in float64: SR as a saved PNG would hold it; HR (read from 8-bit
    # files) only loses the float32 representation error of k/255.
    sr = torch.floor(sr.detach().double().clamp(0, 1) * 255 + 0.5) / 255
    hr = torch.floor(hr.detach().double().clamp(0, 1) * 255 + 0.5) / 255
    sr_y, hr_y = luma(sr, hr)
    sr_y, hr_y = shave(sr_y, crop_border) * 255.0, shave(hr_y, crop_border) * 255.0
    if round_y:  # MATLAB rgb2ycbcr on uint8: Y rounded half away from zero (Y > 0 here)
        sr_y, hr_y = torch.floor(sr_y + 0.5), torch.floor(hr_y + 0.5)
    return sr_y, hr_y


def psnr_per_image(
    sr: torch.Tensor, hr: torch.Tensor, crop_border: int = 0, round_y: bool = False
) -> torch.Tensor:
    """PSNR (dB) of each image, ``sr, hr (B,C,H,W)`` in [0,1] -> ``(B,)`` float64.

    ``round_y`` rounds Y to integers (MATLAB ``rgb2ycbcr`` on uint8); by default Y stays float.
    Identical images give ``inf`` (as MATLAB does).
    """
    sr_y, hr_y = _prepare(sr, hr, crop_border, round_y)
    mse = (sr_y - hr_y).pow(2).flatten(1).mean(dim=1)
    return 10.0 * torch.log10(255.0**2 / mse)


def _gaussian_1d(
    size: int = 11, sigma: float = 1.5, dtype=torch.float64, device=None
) -> torch.Tensor:
    coords = torch.arange(size, dtype=dtype, device=device) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    return g / g.sum()


def _gaussian_window(size: int = 11, sigma: float = 1.5, dtype=torch.float64, device=None):
    """MATLAB ``fspecial('gaussian', size, sigma)`` as ``(1, 1, size, size)``."""
    g = _gaussian_1d(size, sigma, dtype, device)
    return (g[:, None] * g[None, :])[None, None]


# Up to this length a 'valid' 1-D filter pass is a banded matrix product (BLAS, fastest on CPU for
# benchmark-sized images); beyond it, a depthwise convolution (cost linear in the length).
_BANDED_MAX_LENGTH = 768


def _filter_valid_1d(x: torch.Tensor, g: torch.Tensor, dim: int) -> torch.Tensor:
    """'valid' correlation of ``x (B,C,H,W)`` with the 1-D kernel ``g`` along ``dim`` (-2 or -1)."""
    n, k = x.shape[dim], g.numel()
    m = n - k + 1
    if n <= _BANDED_MAX_LENGTH:
        cols = torch.arange(m, device=x.device)[:, None] + torch.arange(k, device=x.device)[None, :]
        band = torch.zeros(m, n, dtype=x.dtype, device=x.device)
        band.scatter_(1, cols, g.to(x.dtype).expand(m, k))
        return band @ x if dim == -2 else x @ band.T
    c = x.shape[1]
    shape = (c, 1, k, 1) if dim == -2 else (c, 1, 1, k)
    return F.conv2d(x, g.to(x.dtype).view(shape[2:]).expand(shape), groups=c)


def ssim_per_image(
    sr: torch.Tensor,
    hr: torch.Tensor,
    crop_border: int = 0,
    window: int = 11,
    sigma: float = 1.5,
    round_y: bool = False,
) -> torch.Tensor:
    """SSIM of each image (Wang et al. 2004, ``ssim.m``), ``(B,C,H,W)`` in [0,1] -> ``(B,)``.

    Gaussian ``window`` x ``window`` weights (sigma ``sigma``), 'valid' filtering, K = (0.01, 0.03),
    L = 255, float64. ``round_y`` as in :func:`psnr_per_image`.
    """
    sr_y, hr_y = _prepare(sr, hr, crop_border, round_y)
    if min(sr_y.shape[-2:]) < window:
        raise ValueError(
            f"SSIM needs at least {window}x{window} pixels after cropping, "
            f"got {tuple(sr_y.shape[-2:])}"
        )
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    g = _gaussian_1d(window, sigma, device=sr_y.device)
    # The five local moments in one pass: (B, 5, H', W').
    stack = torch.cat([sr_y, hr_y, sr_y * sr_y, hr_y * hr_y, sr_y * hr_y], dim=1)
    moments = _filter_valid_1d(_filter_valid_1d(stack, g, -2), g, -1)
    mu_x, mu_y, exx, eyy, exy = moments.unbind(dim=1)
    sxx, syy, sxy = exx - mu_x**2, eyy - mu_y**2, exy - mu_x * mu_y
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * sxy + c2)) / (
        (mu_x**2 + mu_y**2 + c1) * (sxx + syy + c2)
    )
    return ssim_map.flatten(1).mean(dim=1)
