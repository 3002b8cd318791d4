"""Additive noise: Gaussian (sensor read noise) and Poisson (shot noise), per-sample strength.

Both follow the sample-then-apply contract: the strengths, the colour/grey choice and a seed for
the noise field are drawn by ``sample_params``; ``apply_params`` regenerates the field from that
seed on the device of the generator that drew it (moved to the image), so the same parameters
always give the same noisy image, and a CPU generator the same one on every device. The noise
is additive and detached from the image, so gradients flow through unchanged (straight through
for Poisson, whose field depends on the image). Outputs are clipped to [0, 1], like a camera's.

"Grey" noise is the same field in every channel (luminance noise); colour noise differs per
channel. For 1-channel images both are the same.
"""

from __future__ import annotations

import torch

from srlab.degradations.base import (
    DegradationStep,
    Params,
    bernoulli,
    check_range,
    draw_seed,
    seeded_generator,
    uniform,
)

_BT601_GREY = (0.299, 0.587, 0.114)


def _per_sample(v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``(B,)`` -> ``(B,1,1,1)`` in ``x``'s dtype and device."""
    return v.to(device=x.device, dtype=x.dtype).view(-1, 1, 1, 1)


def gaussian_noise(
    x: torch.Tensor,
    sigma: torch.Tensor,
    grey: torch.Tensor,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Add zero-mean Gaussian noise and clip.

    Args:
        x: ``(B, C, H, W)`` images in [0, 1].
        sigma: ``(B,)`` standard deviations on the [0, 1] scale.
        grey: ``(B,)`` booleans: the same field in every channel.
        generator: draws the noise field (on its own device; moved to ``x``'s).

    Returns:
        ``(B, C, H, W)`` noisy images in [0, 1].
    """
    b, c, h, w = x.shape
    # Drawn in float32 whatever x's dtype (the same seed gives the same field in every precision),
    # on the generator's device (the same field for a CPU generator whatever x's device).
    where = generator.device if generator is not None else x.device
    field = torch.randn(b, c, h, w, generator=generator, device=where).to(x.device, x.dtype)
    field = torch.where(grey.to(x.device).view(-1, 1, 1, 1), field[:, :1].expand_as(field), field)
    return (x + _per_sample(sigma, x) * field).clamp(0, 1)


def poisson_noise(
    x: torch.Tensor,
    scale: torch.Tensor,
    grey: torch.Tensor,
    generator: torch.Generator | None = None,
    levels: float = 255.0,
) -> torch.Tensor:
    """Add Poisson (shot) noise, as Real-ESRGAN does, and clip.

    The noise of an image ``x`` counted in ``levels`` photons per unit is
    ``Poisson(x * levels) / levels - x``, multiplied by ``scale``. Grey noise is computed on the
    BT.601 luma and added to every channel.

    Args:
        x: ``(B, C, H, W)`` images in [0, 1].
        scale: ``(B,)`` noise multipliers (0 = none).
        grey: ``(B,)`` booleans: luminance-only noise.
        generator: draws the Poisson counts (on its own device; moved to ``x``'s).
        levels: photon count of a white pixel (255 for 8-bit images).

    Returns:
        ``(B, C, H, W)`` noisy images in [0, 1]; gradients pass straight through the noise.
    """
    # Counts are drawn in float32 at least (Poisson sampling is not defined for float16).
    clean = x.detach().clamp(0, 1).to(torch.promote_types(x.dtype, torch.float32))
    if clean.shape[1] == 3:
        weights = torch.tensor(_BT601_GREY, device=x.device, dtype=clean.dtype).view(1, 3, 1, 1)
        luma = (clean * weights).sum(dim=1, keepdim=True)
    else:
        luma = clean.mean(dim=1, keepdim=True)
    where = generator.device if generator is not None else x.device  # as gaussian_noise

    def counts(v: torch.Tensor) -> torch.Tensor:
        return torch.poisson(v.to(where) * levels, generator=generator).to(x.device) / levels

    colour_noise = counts(clean) - clean
    grey_noise = counts(luma) - luma
    noise = torch.where(
        grey.to(x.device).view(-1, 1, 1, 1), grey_noise.expand_as(clean), colour_noise
    )
    return (x + _per_sample(scale, x) * noise.to(x.dtype)).clamp(0, 1)


class GaussianNoise(DegradationStep):
    """Random additive Gaussian noise, one strength per sample.

    Args:
        sigma_range: ``(low, high)`` standard deviation in 8-bit levels (0–255), or one number.
        grey_prob: probability that a sample's noise is the same in every channel.
        p: probability that a sample gets noise at all.

    Shapes: ``(B, C, H, W)`` -> ``(B, C, H, W)``.
    """

    def __init__(
        self,
        sigma_range: tuple[float, float] | float = (1.0, 30.0),
        grey_prob: float = 0.0,
        p: float = 1.0,
    ) -> None:
        super().__init__(p)
        self.sigma_range = check_range("sigma_range", sigma_range, low=0.0)
        self.grey_prob = float(grey_prob)

    def _draw(self, batch_size: int, generator, device) -> Params:
        lo, hi = self.sigma_range
        return {
            "sigma": uniform(batch_size, lo / 255.0, hi / 255.0, generator, device),
            "grey": bernoulli(batch_size, self.grey_prob, generator, device),
            "seed": draw_seed(generator, device),
        }

    def _degrade(self, x: torch.Tensor, params: Params) -> torch.Tensor:
        return gaussian_noise(x, params["sigma"], params["grey"], seeded_generator(params["seed"]))

    def extra_repr(self) -> str:
        return f"sigma_range={self.sigma_range}, grey_prob={self.grey_prob}, p={self.p}"


class PoissonNoise(DegradationStep):
    """Random Poisson (shot) noise, one strength per sample (Real-ESRGAN's ``scale_range``).

    Args:
        scale_range: ``(low, high)`` multiplier of the 8-bit shot noise, or one number.
        grey_prob: probability that a sample's noise is luminance-only.
        p: probability that a sample gets noise at all.

    Shapes: ``(B, C, H, W)`` -> ``(B, C, H, W)``.
    """

    def __init__(
        self,
        scale_range: tuple[float, float] | float = (0.05, 3.0),
        grey_prob: float = 0.0,
        p: float = 1.0,
    ) -> None:
        super().__init__(p)
        self.scale_range = check_range("scale_range", scale_range, low=0.0)
        self.grey_prob = float(grey_prob)

    def _draw(self, batch_size: int, generator, device) -> Params:
        lo, hi = self.scale_range
        return {
            "scale": uniform(batch_size, lo, hi, generator, device),
            "grey": bernoulli(batch_size, self.grey_prob, generator, device),
            "seed": draw_seed(generator, device),
        }

    def _degrade(self, x: torch.Tensor, params: Params) -> torch.Tensor:
        return poisson_noise(x, params["scale"], params["grey"], seeded_generator(params["seed"]))

    def extra_repr(self) -> str:
        return f"scale_range={self.scale_range}, grey_prob={self.grey_prob}, p={self.p}"
