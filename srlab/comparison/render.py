"""Images a person looks at: outputs in colour, |SR - HR| error maps, PNG writing.

Scores never come from these images (they follow :mod:`srlab.metrics`); these only show the outputs.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

__all__ = ["display_rgb", "error_map", "error_rgb", "save_png", "to_uint8", "y_of_rgb"]


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """``(1, C, H, W)`` in [0, 1] -> ``(H, W, C)`` uint8, rounded as the protocol rounds SR."""
    q = torch.floor(x.detach().double().clamp(0, 1) * 255 + 0.5)
    return q[0].permute(1, 2, 0).to(torch.uint8).cpu().numpy()


def display_rgb(sr: torch.Tensor, hr: torch.Tensor, lr: torch.Tensor, scale: int) -> np.ndarray:
    """A model output as it is shown: ``(H, W, 3)`` uint8 RGB (grey images as grey RGB).

    Args:
        sr: ``(1, in_channels, H, W)`` model-space output (Y of BT.601 or RGB, [0, 1]).
        hr: ``(1, C, H, W)`` image-space HR (C = 3 RGB, C = 1 grey).
        lr: ``(1, C, H/scale, W/scale)`` image-space LR the model was given.
        scale: SR factor.

    A Y-only output of a colour image gets the Cb/Cr of the protocol's bicubic upsampling of the LR
    image (as ``srlab.infer`` and the SRCNN papers' figures do).
    """
    from srlab.degradations.resize import imresize
    from srlab.protocol.colour import to_image_space

    sr = sr.detach().double()
    chroma = imresize(lr.detach().double(), scale) if sr.shape[1] < hr.shape[1] else None
    image = to_uint8(to_image_space(sr, hr.shape[1], chroma))
    return np.repeat(image, 3, axis=2) if hr.shape[1] == 1 else image  # grey shown grey


def error_map(sr: torch.Tensor, hr: torch.Tensor) -> np.ndarray:
    """``|SR - HR|`` on the scored luma, ``(H, W)`` float64 in Y levels (0..255 scale).

    Both are put on the uint8 grid first and SR's luma is taken as the metrics take it
    (:func:`srlab.protocol.metrics.luma`: BT.601 Y of RGB, a Y output as it is, grey as grey).
    """
    from srlab.protocol.metrics import luma

    sr_q = torch.floor(sr.detach().double().clamp(0, 1) * 255 + 0.5) / 255
    hr_q = torch.floor(hr.detach().double().clamp(0, 1) * 255 + 0.5) / 255
    sr_y, hr_y = luma(sr_q, hr_q)
    return ((sr_y - hr_y).abs() * 255.0)[0, 0].cpu().numpy()


@lru_cache(maxsize=4)
def _lut(name: str) -> np.ndarray:
    """``(256, 3)`` uint8 colour table of a matplotlib colormap (no pyplot import)."""
    from matplotlib import colormaps

    return (colormaps[name](np.linspace(0, 1, 256))[:, :3] * 255 + 0.5).astype(np.uint8)


def error_rgb(err: np.ndarray, vmax: float, shave: int = 0, cmap: str = "inferno") -> np.ndarray:
    """Colour an error map: 0 -> dark, ``vmax`` and above -> bright; ``(H, W, 3)`` uint8.

    The ``shave`` border (not scored by the protocol) is dimmed so it reads as excluded.
    """
    idx = np.clip(np.round(err / float(vmax) * 255.0), 0, 255).astype(np.uint8)
    rgb = _lut(cmap)[idx]
    if shave > 0:
        mask = np.ones(err.shape, dtype=bool)
        mask[shave:-shave, shave:-shave] = False
        rgb[mask] = (rgb[mask] * 0.35 + 40).astype(np.uint8)
    return rgb


def y_of_rgb(rgb: np.ndarray) -> np.ndarray:
    """BT.601 Y (0..255 scale, float64) of an ``(H, W, 3)`` uint8 image (grey stays grey)."""
    x = rgb.astype(np.float64) / 255.0
    return 16.0 + 65.481 * x[..., 0] + 128.553 * x[..., 1] + 24.966 * x[..., 2]


def save_png(array: np.ndarray, path: Path) -> None:
    """Write an ``(H, W, 3)`` uint8 array as PNG (folders created)."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, compress_level=6)
