"""PSNR and SSIM as the SR literature computes them (the MATLAB-era evaluation protocol).

Protocol, per image:
1. the SR output is rounded to the uint8 grid (what a saved PNG would hold);
2. both images go to the Y channel of ITU-R BT.601 YCbCr on the [16, 235] scale,
   ``Y = 16 + 65.481 R + 128.553 G + 24.966 B`` with RGB in [0, 1]. Y is kept as a float (not
   rounded again to an integer), as BasicSR's ``calculate_psnr(test_y_channel=True)`` does; MATLAB's
   ``rgb2ycbcr`` on uint8 images rounds Y, which moves results by about 0.01–0.02 dB.
   Greyscale images (1 channel) are scored on their grey channel;
3. ``crop_border`` pixels (usually ``scale``) are removed on each side;
4. PSNR = 10 log10(255² / MSE) in float64; SSIM = Wang et al.'s SSIM with an 11x11 Gaussian window
   (sigma 1.5), 'valid' filtering, K1 = 0.01, K2 = 0.03, L = 255;
5. the reported figure is the mean over images (not over the pixels of a batch).

The Metric classes accumulate one value per image and synchronise sums across processes, so they
are correct under DDP.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torchmetrics import Metric

__all__ = [
    "rgb_to_y",
    "luma",
    "shave",
    "psnr_per_image",
    "ssim_per_image",
    "PSNR",
    "SSIM",
]

_BT601_Y = (65.481, 128.553, 24.966)


def rgb_to_y(rgb: torch.Tensor) -> torch.Tensor:
    """BT.601 luma of ``rgb (B,3,H,W)`` in [0,1] -> ``(B,1,H,W)`` in [16/255, 235/255]."""
    r, g, b = rgb.unbind(dim=-3)
    y = (16.0 + _BT601_Y[0] * r + _BT601_Y[1] * g + _BT601_Y[2] * b) / 255.0
    return y.unsqueeze(-3)


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


def _prepare(sr: torch.Tensor, hr: torch.Tensor, crop_border: int) -> tuple[torch.Tensor, torch.Tensor]:
    if sr.shape[-2:] != hr.shape[-2:]:
        raise ValueError(f"SR {tuple(sr.shape)} and HR {tuple(hr.shape)} differ in size")
    if sr.dim() == 3:
        sr, hr = sr.unsqueeze(0), hr.unsqueeze(0)
    sr = torch.floor(sr.detach().double().clamp(0, 1) * 255 + 0.5) / 255  # uint8 grid
    sr_y, hr_y = luma(sr, hr.detach().double())
    return shave(sr_y, crop_border) * 255.0, shave(hr_y, crop_border) * 255.0


def psnr_per_image(sr: torch.Tensor, hr: torch.Tensor, crop_border: int = 0) -> torch.Tensor:
    """PSNR (dB) of each image, ``sr, hr (B,C,H,W)`` in [0,1] -> ``(B,)`` float64.

    Identical images give ``inf`` (as MATLAB does); the Metric classes keep that honest.
    """
    sr_y, hr_y = _prepare(sr, hr, crop_border)
    mse = (sr_y - hr_y).pow(2).flatten(1).mean(dim=1)
    return 10.0 * torch.log10(255.0**2 / mse)


def _gaussian_window(size: int = 11, sigma: float = 1.5, dtype=torch.float64, device=None):
    coords = torch.arange(size, dtype=dtype, device=device) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :])[None, None]  # (1,1,size,size)


def ssim_per_image(
    sr: torch.Tensor, hr: torch.Tensor, crop_border: int = 0, window: int = 11, sigma: float = 1.5
) -> torch.Tensor:
    """SSIM of each image (Wang et al. 2004, ``ssim.m``), ``(B,C,H,W)`` in [0,1] -> ``(B,)``."""
    sr_y, hr_y = _prepare(sr, hr, crop_border)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    w = _gaussian_window(window, sigma, device=sr_y.device)
    mu_x, mu_y = F.conv2d(sr_y, w), F.conv2d(hr_y, w)  # 'valid' filtering, as ssim.m
    sxx = F.conv2d(sr_y * sr_y, w) - mu_x**2
    syy = F.conv2d(hr_y * hr_y, w) - mu_y**2
    sxy = F.conv2d(sr_y * hr_y, w) - mu_x * mu_y
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * sxy + c2)) / ((mu_x**2 + mu_y**2 + c1) * (sxx + syy + c2))
    return ssim_map.flatten(1).mean(dim=1)


class _PerImageMean(Metric):
    """Mean over images of a per-image score; sums and counts reduce across processes."""

    full_state_update = False
    higher_is_better = True
    is_differentiable = False

    def __init__(self, crop_border: int = 0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.crop_border = int(crop_border)
        self.add_state("total", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def _score(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def update(self, sr: torch.Tensor, hr: torch.Tensor) -> None:  # type: ignore[override]
        values = self._score(sr, hr)
        self.total += values.sum().to(self.total.dtype)
        self.count += values.numel()

    def compute(self) -> torch.Tensor:
        return (self.total / self.count.clamp(min=1)).float()


class PSNR(_PerImageMean):
    """Mean per-image Y-channel PSNR (dB) with ``crop_border`` pixels shaved; see the module doc."""

    def _score(self, sr, hr):
        return psnr_per_image(sr, hr, self.crop_border)


class SSIM(_PerImageMean):
    """Mean per-image Y-channel SSIM (11x11 Gaussian, sigma 1.5) with ``crop_border`` shaved."""

    def _score(self, sr, hr):
        return ssim_per_image(sr, hr, self.crop_border)
