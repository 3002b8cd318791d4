"""Gaussian blur with a different kernel per sample: isotropic and anisotropic (rotated).

The kernel of sample ``b`` is ``k(x, y) ∝ exp(-(u²/2σx² + v²/2σy²))`` on a ``size x size``
grid centred on the pixel, with ``(u, v)`` the grid rotated by ``θ``; it is normalised to sum 1,
so a flat image stays flat. Isotropic kernels have ``σx = σy`` (and ``θ = 0``). The blur is one
batched operation (grouped convolution, or FFT for large kernels) with reflected borders.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from srlab.degradations.base import DegradationStep, Params, bernoulli, check_range, uniform


def gaussian_kernels(
    sigma_x: torch.Tensor, sigma_y: torch.Tensor, theta: torch.Tensor, size: int
) -> torch.Tensor:
    """Normalised (rotated) Gaussian kernels.

    Args:
        sigma_x, sigma_y: ``(B,)`` standard deviations (pixels) along the rotated axes.
        theta: ``(B,)`` rotation angles (radians).
        size: odd kernel size.

    Returns:
        ``(B, size, size)`` kernels summing to 1, in the dtype/device of ``sigma_x``.
    """
    if size % 2 != 1:
        raise ValueError(f"kernel size must be odd, got {size}")
    coords = torch.arange(size, dtype=sigma_x.dtype, device=sigma_x.device) - size // 2
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")  # (size, size)
    cos, sin = theta.cos()[:, None, None], theta.sin()[:, None, None]
    u = cos * xx + sin * yy  # (B, size, size)
    v = -sin * xx + cos * yy
    sx, sy = sigma_x[:, None, None], sigma_y[:, None, None]
    kernels = torch.exp(-0.5 * ((u / sx) ** 2 + (v / sy) ** 2))
    return kernels / kernels.sum(dim=(-2, -1), keepdim=True)


# From this kernel size on, the per-sample convolution runs as an FFT product: a grouped direct
# convolution costs O(k²) per pixel (80 ms for 64x3x33x33 at k = 21 on one CPU core), the FFT
# O(log n) (5 ms); below it the direct one is faster.
FFT_MIN_KERNEL = 11


def _fft_length(n: int) -> int:
    """Smallest length >= ``n`` whose only prime factors are 2, 3 and 5 (fast FFT sizes)."""
    while True:
        m = n
        for p in (2, 3, 5):
            while m % p == 0:
                m //= p
        if m == 1:
            return n
        n += 1


def convolve_per_sample(
    x: torch.Tensor, kernels: torch.Tensor, method: str = "auto"
) -> torch.Tensor:
    """Correlate each image with its own kernel (reflected borders; 'same' size).

    Args:
        x: ``(B, C, H, W)`` images.
        kernels: ``(B, k, k)`` (one per image, shared by its channels) or ``(k, k)`` (one for all),
            k odd.
        method: ``"direct"`` (grouped convolution), ``"fft"`` (product of spectra; the same result
            up to float rounding) or ``"auto"`` (FFT from ``FFT_MIN_KERNEL`` on).

    Returns:
        ``(B, C, H, W)`` filtered images, dtype of ``x``.
    """
    b, c, h, w = x.shape
    if kernels.dim() == 2:
        kernels = kernels.expand(b, *kernels.shape)
    k = kernels.shape[-1]
    if k % 2 != 1 or kernels.shape[-2] != k:
        raise ValueError(f"kernels must be square with an odd size, got {tuple(kernels.shape)}")
    pad = k // 2
    # 'reflect' needs the pad to be smaller than the image; tiny images fall back to 'replicate'.
    mode = "reflect" if pad < min(h, w) else "replicate"
    padded = F.pad(x, (pad, pad, pad, pad), mode=mode)  # (B, C, H + k - 1, W + k - 1)
    if method == "auto":
        method = "fft" if k >= FFT_MIN_KERNEL else "direct"
    if method == "direct":
        weight = kernels.to(x.dtype).repeat_interleave(c, dim=0).unsqueeze(1)  # (B*C, 1, k, k)
        out = F.conv2d(padded.reshape(1, b * c, h + 2 * pad, w + 2 * pad), weight, groups=b * c)
        return out.view(b, c, h, w)
    if method != "fft":
        raise ValueError(f"method must be 'auto', 'direct' or 'fft', got {method!r}")
    # Circular convolution of length >= H + k - 1 equals the linear one on the H 'valid' outputs
    # (indices k-1 … k-1+H-1). The kernel is flipped: conv2d (and this function) correlate.
    dtype = torch.promote_types(x.dtype, torch.float32)  # no half-precision FFT of any size
    size = (_fft_length(h + 2 * pad), _fft_length(w + 2 * pad))
    spectrum = torch.fft.rfft2(padded.to(dtype), s=size)
    kernel_spectrum = torch.fft.rfft2(kernels.to(dtype).flip(-2, -1), s=size)  # (B, H', W'/2+1)
    out = torch.fft.irfft2(spectrum * kernel_spectrum[:, None], s=size)
    return out[..., k - 1 : k - 1 + h, k - 1 : k - 1 + w].to(x.dtype)


class GaussianBlur(DegradationStep):
    """Random Gaussian blur, one kernel per sample.

    Each sample is anisotropic with probability ``anisotropic_prob`` (σx, σy drawn independently
    from ``sigma_range``, θ uniform in [-π, π)), else isotropic (one σ from ``sigma_range``).

    Args:
        sigma_range: ``(low, high)`` standard deviation in HR pixels, or one number (fixed σ).
        kernel_size: odd kernel size (about 6σ_max + 1 keeps the kernel untruncated).
        anisotropic_prob: probability that a sample's kernel is anisotropic.
        p: probability that a sample is blurred at all.

    Shapes: ``(B, C, H, W)`` -> ``(B, C, H, W)``.
    """

    def __init__(
        self,
        sigma_range: tuple[float, float] | float = (0.2, 3.0),
        kernel_size: int = 21,
        anisotropic_prob: float = 0.0,
        p: float = 1.0,
    ) -> None:
        super().__init__(p)
        self.sigma_range = check_range("sigma_range", sigma_range, low=1e-3)
        if kernel_size % 2 != 1 or kernel_size < 1:
            raise ValueError(
                f"GaussianBlur: kernel_size must be a positive odd number, got {kernel_size}"
            )
        self.kernel_size = int(kernel_size)
        self.anisotropic_prob = float(anisotropic_prob)

    @property
    def deterministic(self) -> bool:  # type: ignore[override]
        """A fixed isotropic σ on every sample (the "BD" setting, e.g. ``sigma_range: 1.6``):
        one kernel for all, whatever is drawn."""
        lo, hi = self.sigma_range
        return lo == hi and self.anisotropic_prob == 0.0 and self.p == 1.0

    def _draw(self, batch_size: int, generator, device) -> Params:
        lo, hi = self.sigma_range
        sigma_x = uniform(batch_size, lo, hi, generator, device)
        sigma_y = uniform(batch_size, lo, hi, generator, device)
        theta = uniform(batch_size, -math.pi, math.pi, generator, device)
        anisotropic = bernoulli(batch_size, self.anisotropic_prob, generator, device)
        sigma_y = torch.where(anisotropic, sigma_y, sigma_x)
        theta = torch.where(anisotropic, theta, torch.zeros_like(theta))
        return {"sigma_x": sigma_x, "sigma_y": sigma_y, "theta": theta}

    def _degrade(self, x: torch.Tensor, params: Params) -> torch.Tensor:
        # Kernels are built in float32 at least: float16 exp/normalisation loses the tails.
        dtype = torch.promote_types(x.dtype, torch.float32)
        kernels = gaussian_kernels(
            params["sigma_x"].to(dtype),
            params["sigma_y"].to(dtype),
            params["theta"].to(dtype),
            self.kernel_size,
        )
        return convolve_per_sample(x, kernels)

    def extra_repr(self) -> str:
        return (
            f"sigma_range={self.sigma_range}, kernel_size={self.kernel_size}, "
            f"anisotropic_prob={self.anisotropic_prob}, p={self.p}"
        )
