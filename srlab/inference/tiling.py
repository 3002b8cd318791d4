"""Tiled inference: run any ``fn(lr) -> sr`` over overlapping tiles of a large image.

The LR image is cut into a grid of ``tile x tile`` *core* regions. Each is processed with
``overlap`` extra LR pixels of context on every side (clipped at the image border), and only the
part of the output that belongs to the core is kept. When ``overlap`` covers the receptive field of
``fn`` (for SRCNN x3: 2 LR pixels of bicubic support + 8 HR = 3 LR pixels of convolutions), the
tiled result equals the untiled one up to float rounding; beyond the receptive field the effect of
the tile edge decays with distance, so the default overlap (16 LR pixels) suits deeper models too.

Peak memory is bounded by one tile's activations plus the (integer) output image; the input may
stay ``uint8``/``uint16`` on the CPU, ``fn`` converts each tile.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["tile_spans", "tiled_forward"]


def tile_spans(length: int, tile: int | None, overlap: int) -> list[tuple[int, int, int, int]]:
    """Split ``[0, length)`` into tiles: ``(src_start, src_end, core_start, core_end)`` each.

    Cores partition ``[0, length)`` in steps of ``tile``; sources extend each core by ``overlap``
    on both sides, clipped to the image. ``tile`` of ``None``/``0`` (or ``>= length``) = one tile.
    """
    if length <= 0:
        raise ValueError(f"cannot tile a length of {length}")
    if not tile or tile >= length:
        return [(0, length, 0, length)]
    if tile < 1 or overlap < 0:
        raise ValueError(f"tile must be >= 1 and overlap >= 0, got tile={tile}, overlap={overlap}")
    spans = []
    for core_start in range(0, length, tile):
        core_end = min(core_start + tile, length)
        spans.append(
            (max(0, core_start - overlap), min(length, core_end + overlap), core_start, core_end)
        )
    return spans


def tiled_forward(
    fn: Callable[[torch.Tensor], torch.Tensor],
    lr: torch.Tensor,
    scale: int,
    tile: int | None = 256,
    overlap: int = 16,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """``fn`` applied to ``lr`` tile by tile, assembled into one ``scale``-times larger output.

    Args:
        fn: maps ``(B, C, th, tw)`` tiles (of ``lr``'s dtype and device) to
            ``(B, C', scale*th, scale*tw)``; it does its own dtype/device conversion.
        lr: ``(B, C, h, w)`` image, any dtype and device.
        scale: integer size ratio of ``fn``'s output to its input.
        tile: core tile size in LR pixels; ``None``/``0`` runs ``fn`` once on the whole image.
        overlap: LR pixels of context on each side of a tile.
        out: optional preallocated ``(B, C', scale*h, scale*w)`` output (e.g. ``uint8`` on the CPU);
            by default it is allocated like the first tile's result.

    Returns:
        ``(B, C', scale*h, scale*w)``.
    """
    if lr.dim() != 4:
        raise ValueError(f"tiled_forward expects (B, C, h, w), got {tuple(lr.shape)}")
    h, w = lr.shape[-2:]
    s = int(scale)
    for ys0, ys1, yc0, yc1 in tile_spans(h, tile, overlap):
        for xs0, xs1, xc0, xc1 in tile_spans(w, tile, overlap):
            sr = fn(lr[..., ys0:ys1, xs0:xs1])
            expected = ((ys1 - ys0) * s, (xs1 - xs0) * s)
            if tuple(sr.shape[-2:]) != expected:
                raise ValueError(
                    f"fn gave a {tuple(sr.shape[-2:])} tile for {expected} (scale {s})"
                )
            if out is None:
                out = sr.new_empty((*sr.shape[:-2], h * s, w * s))
            core = sr[..., (yc0 - ys0) * s : (yc1 - ys0) * s, (xc0 - xs0) * s : (xc1 - xs0) * s]
            out[..., yc0 * s : yc1 * s, xc0 * s : xc1 * s] = core.to(out.device, out.dtype)
            del sr, core
    return out
