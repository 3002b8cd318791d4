"""Upscaling decoded images with a loaded model: colour handling, alpha, tiles.

Colour rules (the SR literature's, from :mod:`srlab.protocol.colour`): a Y-channel model
(``in_channels == 1``) upscales the BT.601 Y channel and takes Cb/Cr from the protocol's bicubic; an
RGB model takes RGB; grey images go straight through a Y model (and through an RGB model as three
equal channels, averaged back); alpha is upscaled separately with bicubic. Large images are
processed in overlapping tiles (:mod:`srlab.inference.tiling`), so memory is bounded by the tile
size.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import torch

from srlab.degradations.bicubic_conv import bicubic_upsample_conv
from srlab.degradations.resize import imresize
from srlab.inference.tiling import receptive_radius, tile_spans, tiled_forward
from srlab.protocol.colour import (
    copy_truncated,
    interleaved_integer_image,
    rgb_to_cbcr,
    to_image_space,
    to_model_space,
    ycbcr_to_rgb_integer,
)

log = logging.getLogger("srlab.infer")


def _round(x: torch.Tensor, max_value: int, dtype: torch.dtype) -> torch.Tensor:
    """``x (B, C, H, W)`` in [0, 1] (float, consumed) -> the integer grid of ``max_value``, on the
    CPU, in channels-last memory (interleaved pixels: the output array's layout, so the tile's
    copy into it is a plain row copy).

    In place: at output size every pass over a float image costs as much as a small network layer.
    Truncating a value >= 0 (the copy into an integer tensor) is flooring it.
    """
    x = x.clamp_(0, 1).mul_(max_value).add_(0.5)
    return copy_truncated(interleaved_integer_image(*x.shape, dtype, x.device), x).cpu()


def _bicubic_up(x: torch.Tensor, scale: int) -> torch.Tensor:
    """MATLAB bicubic upscaling of ``x (1, C, h, w)`` by the integer ``scale``.

    As a 5x5 phase convolution + pixel shuffle (:mod:`srlab.degradations.bicubic_conv`): the
    same values as :func:`imresize` to float rounding (3e-7), 2.5x faster on the CPU, which is
    10% of a small network's upscale (BENCHMARKS.md, inference).
    """
    if min(x.shape[-2:]) >= 2:
        return bicubic_upsample_conv(x, scale)
    return imresize(x, scale)


class Upscaler:
    """Upscale decoded images (:class:`srlab.data.imagefile.ImageData`) with a loaded model.

    Args:
        model: a :class:`srlab.checkpoints.LoadedModel` (network already on ``device``).
        device: where tiles are computed.
        half: run the network in float16 (CUDA only; colour conversions stay float32).
        tile: LR tile size in pixels (``0``/``None`` = whole image at once).
        tile_overlap: LR pixels of context around each tile; ``None`` = the network's receptive
            radius (:func:`~srlab.inference.tiling.receptive_radius`, measured on first use), so
            tiled output equals whole-image output.
    """

    def __init__(
        self,
        model,
        device,
        half: bool = False,
        tile: int | None = 256,
        tile_overlap: int | None = None,
    ):
        self.model = model
        self.device = torch.device(device)
        if half and not getattr(model.net, "supports_half", True):  # spandrel's descriptor says so
            log.warning("%s does not support float16; running in float32", model.describe())
            half = False
        self.half = bool(half) and self.device.type == "cuda"
        if half and not self.half:
            log.warning("half=true needs a CUDA device; running in float32 on %s", self.device)
        # Channels-last convolutions are 2-5x faster on CPU (oneDNN) and use tensor cores on GPU.
        self.net = model.net.to(self.device, memory_format=torch.channels_last).eval()
        if self.half:
            self.net = self.net.half()
        self.scale = int(model.scale)
        self.tile = int(tile) if tile else None
        self._overlap = None if tile_overlap is None else int(tile_overlap)

    def _run_net(self, x):
        if self.half:
            return self.net(x.half()).float()
        return self.net(x.to(torch.float32))

    def colour_fn(self, channels: int, max_value: int) -> Callable:
        """Tile function: ``(1, C, h, w)`` integer colour -> ``(1, C, s*h, s*w)`` integer, on CPU.

        The colour rules are :mod:`srlab.protocol.colour`'s: the network sees its colour mode, and
        a Y network's output on an RGB image takes the chroma of the protocol's bicubic.
        """
        model_channels = self.model.in_channels
        out_dtype = torch.uint8 if max_value == 255 else torch.uint16

        def fn(tile: torch.Tensor) -> torch.Tensor:
            # Tiles are views of an (H, W, C) array: contiguous planes make the colour
            # conversions' passes vectorised (5-10x faster than on interleaved channels).
            x = tile.to(device=self.device, dtype=torch.float32).contiguous() / max_value
            sr = self._run_net(to_model_space(x, model_channels))
            if sr.shape[1] == 1 and channels == 3:
                # Cb/Cr of the bicubic image = bicubic of the input's Cb/Cr (both are linear and
                # bicubic weights sum to 1): converted at LR size, 2 channels upsampled, not 3.
                cbcr = _bicubic_up(rgb_to_cbcr(x), self.scale)
                # to_image_space + _round in one affine pass per channel (ycbcr_to_rgb_integer).
                return ycbcr_to_rgb_integer(sr, cbcr, max_value, out_dtype).cpu()
            return _round(to_image_space(sr, channels), max_value, out_dtype)

        return fn

    def alpha_fn(self, max_value: int) -> Callable:
        """Tile function for alpha: the protocol's bicubic, rounded to the input's integer grid."""
        out_dtype = torch.uint8 if max_value == 255 else torch.uint16

        def fn(tile: torch.Tensor) -> torch.Tensor:
            x = tile.to(device=self.device, dtype=torch.float32).contiguous() / max_value
            return _round(_bicubic_up(x, self.scale), max_value, out_dtype)

        return fn

    @property
    def tile_overlap(self) -> int:
        """LR pixels of context per tile (measured from the network when not given)."""
        if self._overlap is None:
            radius = receptive_radius(self.net, self.model.in_channels)
            if radius is None:
                radius = 64
                log.warning(
                    "%s depends on more than 256 LR pixels around each output pixel: tiles use "
                    "%d px of context and may differ slightly from tile=0 (whole images)",
                    self.model.describe(),
                    radius,
                )
            self._overlap = radius
            log.info("tile overlap: %d LR px (the network's receptive radius)", radius)
        return self._overlap

    def tiles(self, height: int, width: int) -> int:
        """How many tiles an ``height x width`` LR image is processed in (per colour/alpha pass)."""
        return len(tile_spans(height, self.tile, 0)) * len(tile_spans(width, self.tile, 0))

    def upscale(self, image, on_tile: Callable[[], None] | None = None):
        """``ImageData`` -> ``(s*H, s*W, C[+1])`` array of the input's dtype (alpha last).

        ``on_tile`` is called after each tile (progress reporting).
        """
        s, c = self.scale, image.channels
        overlap = self.tile_overlap if self.tiles(image.height, image.width) > 1 else 0
        total = c + (image.alpha is not None)
        out = np.empty((image.height * s, image.width * s, total), dtype=image.pixels.dtype)
        out_view = torch.from_numpy(out).permute(2, 0, 1)[
            None
        ]  # (1, C_total, sH, sW), shares memory
        colour = torch.from_numpy(image.pixels).permute(2, 0, 1)[None]  # (1, C, H, W) integer view
        with torch.inference_mode():
            tiled_forward(
                self.colour_fn(c, image.max_value),
                colour,
                s,
                self.tile,
                overlap,
                out=out_view[:, :c],
                on_tile=on_tile,
            )
            if image.alpha is not None:
                alpha = torch.from_numpy(image.alpha)[None, None]
                tiled_forward(
                    self.alpha_fn(image.max_value),
                    alpha,
                    s,
                    self.tile,
                    overlap,
                    out=out_view[:, c:],
                )
        return out
