"""The paper figure: per chosen image, HR with the crop box drawn, then the box zoomed for every
model (with the image's PSNR under it, as papers print it) and for HR; PNG and PDF.

Images and boxes are given (``figure.images``, ``figure.boxes``) or chosen: the images on which the
models' PSNRs differ most, and in each the ``crop`` x ``crop`` box where the models' local errors
(mean squared Y error over the box) differ most.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from srlab.comparison.results import Comparison, SetComparison
from srlab.errors import ConfigError

__all__ = ["FigureRow", "auto_box", "choose_rows", "draw_figure", "write_figures"]


@dataclass
class FigureRow:
    """One row of the figure: an image of a set at a scale and its box ``(x, y, w, h)``."""

    group: SetComparison
    name: str
    box: tuple[int, int, int, int]


def _read_rgb(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))


def _box_sums(a: np.ndarray, bh: int, bw: int) -> np.ndarray:
    """Sum of ``a (H, W)`` over every ``bh x bw`` window: ``(H-bh+1, W-bw+1)`` (integral image)."""
    s = np.pad(a.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    return s[bh:, bw:] - s[:-bh, bw:] - s[bh:, :-bw] + s[:-bh, :-bw]


def auto_box(out: Path, group: SetComparison, name: str, models: list[str], crop: int) -> tuple:
    """The ``crop`` x ``crop`` box (inside the scored area) where the models' errors differ most.

    For each model the squared Y error against HR is summed over every window; the window with the
    largest spread (max - min over the models) wins. Read from the saved display images: this only
    chooses what to show, it scores nothing.
    """
    from srlab.comparison.render import y_of_rgb

    files = group.files[name]
    hr_y = y_of_rgb(_read_rgb(out / files["HR"]))
    h, w = hr_y.shape
    s = group.scale
    side = int(max(4, min(crop, h - 2 * s, w - 2 * s)))
    sums = [
        _box_sums((y_of_rgb(_read_rgb(out / files[f"sr/{m}"])) - hr_y) ** 2, side, side)
        for m in models
        if f"sr/{m}" in files
    ]
    spread = np.max(sums, axis=0) - np.min(sums, axis=0)
    inner = spread[s : h - s - side + 1, s : w - s - side + 1]  # windows inside the shaved border
    if inner.size == 0:
        inner, off = spread, 0
    else:
        off = s
    y, x = np.unravel_index(int(np.argmax(inner)), inner.shape)
    return (int(x) + off, int(y) + off, side, side)


def _find(groups: list[SetComparison], image: str) -> tuple[SetComparison, str]:
    hits = []
    for g in groups:
        for name in g.images:
            if image in (name, f"{g.dataset}/{name}"):
                hits.append((g, name))
    if len(hits) == 1:
        return hits[0]
    examples = ", ".join(f"{g.dataset}/{n}" for g in groups for n in g.images[:2])
    if not hits:
        raise ConfigError(f"figure.images: no image {image!r} (valid e.g. {examples})")
    raise ConfigError(f"figure.images: {image!r} is in several sets; write it as Set/name")


def choose_rows(
    out: Path,
    cmp: Comparison,
    scale: int,
    images: list[str] | None,
    boxes: list | None,
    count: int,
    crop: int,
) -> list[FigureRow]:
    """The figure's rows at ``scale``: the given images (and boxes), or the automatic choice."""
    groups = [g for g in cmp.sets if g.scale == scale]
    if images:
        picks = [_find(groups, str(i)) for i in images]
    else:
        spread = []
        for g in groups:
            for k, name in enumerate(g.images):
                values = [s.per_image[k]["psnr"] for s in g.scores.values()]
                values = [v for v in values if math.isfinite(v)]
                spread.append((max(values) - min(values) if values else 0.0, g.dataset, name, g))
        spread.sort(key=lambda t: (-t[0], t[1], t[2]))
        picks = [(g, name) for _, _, name, g in spread[: max(int(count), 0)]]
    if boxes is not None and len(boxes) != len(picks):
        raise ConfigError(
            f"figure.boxes: {len(boxes)} boxes for {len(picks)} figure.images; one [x, y, w, h] "
            "(or null) per image"
        )
    rows = []
    for i, (g, name) in enumerate(picks):
        box = None if boxes is None else boxes[i]
        h, w = g.sizes[name]
        if box is None:
            box = auto_box(out, g, name, cmp.models, crop)
        else:
            x, y, bw, bh = (int(v) for v in box)
            if bw < 1 or bh < 1 or x < 0 or y < 0 or x + bw > w or y + bh > h:
                raise ConfigError(
                    f"figure.boxes: [{x}, {y}, {bw}, {bh}] (x, y, w, h) is not inside "
                    f"{g.dataset}/{name} at x{g.scale}, which is {w}x{h} (w x h) after mod-crop"
                )
            box = (x, y, bw, bh)
        rows.append(FigureRow(g, name, box))
    return rows


def draw_figure(out: Path, cmp: Comparison, rows: list[FigureRow], stem: Path) -> list[Path]:
    """Draw ``rows`` and save ``<stem>.png`` (200 dpi) and ``<stem>.pdf`` (text as TrueType)."""
    import logging

    import matplotlib

    matplotlib.use("Agg")
    # The PDF backend's font subsetting logs every table at INFO (Hydra's root level).
    logging.getLogger("fontTools").setLevel(logging.WARNING)
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    crop_h, label_h, gap, margin = 1.25, 0.38, 0.06, 0.08  # inches
    layouts = []
    for row in rows:
        h, w = row.group.sizes[row.name]
        x, y, bw, bh = row.box
        panels = [("HR full", row.group.files[row.name]["HR"], None, crop_h * w / h)]
        for m in cmp.models:
            if m in row.group.scores:
                k = row.group.images.index(row.name)
                psnr = row.group.scores[m].per_image[k]["psnr"]
                panels.append((m, row.group.files[row.name][f"sr/{m}"], psnr, crop_h * bw / bh))
        panels.append(("HR", row.group.files[row.name]["HR"], None, crop_h * bw / bh))
        layouts.append(panels)
    fig_w = 2 * margin + max(
        sum(p[3] for p in panels) + gap * (len(panels) + 1) for panels in layouts
    )
    fig_h = 2 * margin + len(rows) * (crop_h + label_h)
    with plt.rc_context({"pdf.fonttype": 42, "ps.fonttype": 42, "font.size": 7.5}):
        fig = plt.figure(figsize=(fig_w, fig_h))
        for r, (row, panels) in enumerate(zip(rows, layouts, strict=True)):
            bottom = fig_h - margin - (r + 1) * (crop_h + label_h) + label_h
            left = margin
            x, y, bw, bh = row.box
            psnrs = [p[2] for p in panels if p[2] is not None and math.isfinite(p[2])]
            best = max(psnrs) if psnrs else None
            for i, (label, rel, psnr, width) in enumerate(panels):
                ax = fig.add_axes((left / fig_w, bottom / fig_h, width / fig_w, crop_h / fig_h))
                image = _read_rgb(out / rel)
                ax.set_xticks([])
                ax.set_yticks([])
                for spine in ax.spines.values():
                    spine.set_linewidth(0.4)
                    spine.set_color("#666666")
                if i == 0:
                    ax.imshow(image, interpolation="antialiased")
                    ax.add_patch(
                        Rectangle((x - 0.5, y - 0.5), bw, bh, fill=False, ec="red", lw=1.2)
                    )
                    text = f"{row.group.dataset} {row.name} (x{row.group.scale})"
                    weight = "normal"
                else:
                    ax.imshow(image[y : y + bh, x : x + bw], interpolation="nearest")
                    text = label if psnr is None else f"{label}\n{psnr:.2f} dB"
                    weight = "bold" if psnr is not None and psnr == best else "normal"
                ax.text(
                    0.5,
                    -0.03,
                    text,
                    transform=ax.transAxes,
                    ha="center",
                    va="top",
                    fontweight=weight,
                    linespacing=1.1,
                )
                left += width + gap
        paths = [stem.with_suffix(".png"), stem.with_suffix(".pdf")]
        fig.savefig(paths[0], dpi=200)
        fig.savefig(paths[1], dpi=300)
        plt.close(fig)
    return paths


def write_figures(cmp: Comparison, out: Path, settings) -> dict[str, Path]:
    """``figure_x<scale>.{png,pdf}`` for every scale; the rows come from ``settings``."""
    written = {}
    for scale in cmp.scales:
        # Given images (and boxes) apply to every scale: each scale scores the same sets.
        images = list(settings.images) if settings.images else None
        boxes = (
            None
            if settings.boxes is None
            else [None if b is None else list(b) for b in settings.boxes]
        )
        rows = choose_rows(out, cmp, scale, images, boxes, int(settings.count), int(settings.crop))
        if not rows:
            continue
        png, pdf = draw_figure(out, cmp, rows, Path(out) / f"figure_x{scale}")
        written[f"figure_x{scale}_png"], written[f"figure_x{scale}_pdf"] = png, pdf
    return written
