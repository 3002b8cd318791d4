"""JPEG compression artefacts with a per-sample quality, via kornia's differentiable JPEG codec.

kornia models the whole codec (RGB -> YCbCr 4:2:0, 8x8 DCT, quantisation with the standard tables
scaled by the quality, decoding) with a differentiable rounding, so gradients flow to the image.
It pads to whole 16x16 MCUs internally and crops back, so any image size works.
"""

from __future__ import annotations

import torch

from srlab.degradations.base import DegradationStep, Params, check_range, uniform


def jpeg_compress(x: torch.Tensor, quality: torch.Tensor) -> torch.Tensor:
    """JPEG-compress and decode each image with its own quality.

    Args:
        x: ``(B, C, H, W)`` images in [0, 1], C = 3 (RGB) or 1 (grey: coded as a grey RGB image,
            whose decoded channels are averaged back to one).
        quality: ``(B,)`` JPEG qualities in [1, 100].

    Returns:
        ``(B, C, H, W)`` decoded images in [0, 1], dtype of ``x``.
    """
    from kornia.enhance import jpeg_codec_differentiable  # heavy import, kept local

    c = x.shape[1]
    if c not in (1, 3):
        raise ValueError(f"jpeg expects 1 or 3 channels, got {c}")
    rgb = x.clamp(0, 1)
    if c == 1:
        rgb = rgb.expand(-1, 3, -1, -1)
    # kornia computes half precision in float32 itself; float64 is coded in float32 too.
    dtype = x.dtype
    if dtype == torch.float64:
        rgb = rgb.float()
    out = jpeg_codec_differentiable(rgb, quality.to(device=x.device, dtype=torch.float32))
    if c == 1:
        out = out.mean(dim=1, keepdim=True)
    return out.clamp(0, 1).to(dtype)


class JPEG(DegradationStep):
    """Random JPEG compression, one quality per sample.

    Args:
        quality_range: ``(low, high)`` JPEG quality (1–100), or one number.
        p: probability that a sample is compressed at all.

    Shapes: ``(B, C, H, W)`` -> ``(B, C, H, W)``, C = 1 or 3.
    """

    def __init__(
        self, quality_range: tuple[float, float] | float = (30.0, 95.0), p: float = 1.0
    ) -> None:
        super().__init__(p)
        self.quality_range = check_range("quality_range", quality_range, low=1.0, high=100.0)

    def _draw(self, batch_size: int, generator, device) -> Params:
        return {"quality": uniform(batch_size, *self.quality_range, generator, device)}

    def _degrade(self, x: torch.Tensor, params: Params) -> torch.Tensor:
        return jpeg_compress(x, params["quality"])

    def extra_repr(self) -> str:
        return f"quality_range={self.quality_range}, p={self.p}"
