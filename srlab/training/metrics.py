"""Validation accumulators: per-image scores of :func:`srlab.protocol.scoring.score_batch` averaged
over images, with sums and counts reduced across processes (exact under DDP).
"""

from __future__ import annotations

import torch
from torchmetrics import Metric

__all__ = ["ImageMean"]


class ImageMean(Metric):
    """Mean over images of a per-image score (PSNR, SSIM, …); sums and counts reduce across ranks.

    ``update(values)`` takes the ``(B,)`` scores of a batch's images, on any device.
    """

    full_state_update = False
    higher_is_better = True
    is_differentiable = False

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.add_state(
            "total", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum"
        )
        self.add_state("count", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, values: torch.Tensor) -> None:  # type: ignore[override]
        """Add the scores ``values (B,)`` of ``B`` images."""
        self.total += values.detach().sum().to(self.total.device, self.total.dtype)
        self.count += values.numel()

    def compute(self) -> torch.Tensor:
        return (self.total / self.count.clamp(min=1)).float()
