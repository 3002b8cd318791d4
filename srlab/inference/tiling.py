"""Tiled inference: run any ``fn(lr) -> sr`` over overlapping tiles of a large image.

The LR image is cut into a grid of ``tile x tile`` *core* regions. Each is processed with
``overlap`` extra LR pixels of context on every side (clipped at the image border), and only the
part of the output that belongs to the core is kept. When ``overlap`` covers the receptive field of
``fn``, the tiled result equals the untiled one up to float rounding. :func:`receptive_radius`
measures that field for any network (SRCNN x3: 4 LR pixels; EDSR-baseline: 35), and ``srlab.infer``
uses it as the default overlap, so tiling never changes a model's output.

Peak memory is bounded by one tile's activations plus the (integer) output image; the input may
stay ``uint8``/``uint16`` on the CPU, ``fn`` converts each tile.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["receptive_radius", "tile_spans", "tiled_forward"]


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


def receptive_radius(
    net: torch.nn.Module, in_channels: int, start: int = 8, limit: int = 256, thickness: int = 8
) -> int | None:
    """LR pixels of context an output pixel of ``net`` depends on (its receptive radius).

    Measured, not declared, so it holds for any network: the gradient of the output at the centre
    LR pixel's block with respect to a random LR input is non-zero exactly where the output
    depends on the input. The probe is a strip ``thickness`` pixels thick and ``2r+1`` long, once
    across and once down (cost linear in ``r``), with ``r`` doubling from ``start`` while the
    dependence reaches the strip's end. Returns ``None`` if it still does at ``limit`` (the model
    sees the whole image: only ``tile=0`` is exact).
    """
    scale = int(getattr(net, "scale", 1))
    param = next(net.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    was_training = net.training
    net.eval()
    radius = int(start)
    generator = torch.Generator().manual_seed(0)
    try:
        with torch.inference_mode(False), torch.enable_grad():
            while radius <= limit:
                reach = 0
                for shape in ((thickness, 2 * radius + 1), (2 * radius + 1, thickness)):
                    x = torch.rand(1, in_channels, *shape, generator=generator).to(device)
                    x.requires_grad_(True)
                    out = net(x).float()
                    cy = (shape[0] // 2) * scale if shape[0] > thickness else 0
                    cx = (shape[1] // 2) * scale if shape[1] > thickness else 0
                    h = scale if shape[0] > thickness else out.shape[-2]
                    w = scale if shape[1] > thickness else out.shape[-1]
                    out[..., cy : cy + h, cx : cx + w].sum().backward()
                    along = x.grad.abs().sum(dim=(0, 1)).sum(dim=0 if shape[1] > thickness else 1)
                    touched = (along > 0).nonzero().flatten()
                    if len(touched):
                        reach = max(reach, int((touched - radius).abs().max()))
                if reach < radius:
                    return reach
                radius *= 2
            return None
    finally:
        net.train(was_training)


def tiled_forward(
    fn: Callable[[torch.Tensor], torch.Tensor],
    lr: torch.Tensor,
    scale: int,
    tile: int | None = 256,
    overlap: int = 16,
    out: torch.Tensor | None = None,
    on_tile: Callable[[], None] | None = None,
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
        on_tile: called after each tile (progress reporting).

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
            if on_tile is not None:
                on_tile()
    return out
