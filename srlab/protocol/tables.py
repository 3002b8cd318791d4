"""Result tables of the scoring protocol: paper-style markdown, CSV files, W&B tables."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from srlab.protocol.scoring import EvalResult

__all__ = ["PER_IMAGE_COLUMNS", "SUMMARY_COLUMNS", "format_markdown", "rows", "write_results"]

SUMMARY_COLUMNS = ["model", "dataset", "scale", "psnr", "ssim", "images", "seconds"]
PER_IMAGE_COLUMNS = ["model", "dataset", "scale", "image", "psnr", "ssim"]


def format_markdown(results: Sequence[EvalResult], layout: str = "wide") -> str:
    """Markdown table of ``results``.

    ``wide`` (paper style): one row per (model, set), one ``PSNR / SSIM`` column per scale.
    ``long``: one row per (model, set, scale) with PSNR, SSIM and the image count.
    """
    if layout == "long":
        lines = [
            "| Model | Dataset | Scale | PSNR (dB) | SSIM | Images |",
            "|---|---|---:|---:|---:|---:|",
        ]
        lines += [
            f"| {r.model} | {r.dataset} | x{r.scale} | {r.psnr:.3f} | {r.ssim:.4f} | {r.images} |"
            for r in results
        ]
        return "\n".join(lines)
    if layout != "wide":
        raise ValueError(f"layout must be 'wide' or 'long', got {layout!r}")
    scales = sorted({r.scale for r in results})
    rows: dict[tuple[str, str], dict[int, EvalResult]] = {}
    for r in results:
        rows.setdefault((r.model, r.dataset), {})[r.scale] = r
    lines = [
        "| Model | Dataset | " + " | ".join(f"x{s} PSNR / SSIM" for s in scales) + " |",
        "|---|---|" + "---:|" * len(scales),
    ]
    for (model, dataset), by_scale in rows.items():
        cells = [
            f"{by_scale[s].psnr:.2f} / {by_scale[s].ssim:.4f}" if s in by_scale else "–"
            for s in scales
        ]
        lines.append(f"| {model} | {dataset} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def rows(results: Sequence[EvalResult], per_image: bool) -> list[list]:
    """Table rows: one per result (:data:`SUMMARY_COLUMNS`) or per image (:data:`PER_IMAGE_COLUMNS`)."""
    if per_image:
        return [
            [r.model, r.dataset, r.scale, row["name"], row["psnr"], row["ssim"]]
            for r in results
            for row in r.per_image
        ]
    return [[r.model, r.dataset, r.scale, r.psnr, r.ssim, r.images, r.seconds] for r in results]


def write_results(
    folder: Path, stem: str, table: str, results: Sequence[EvalResult], per_image: bool
) -> list[Path]:
    """``<stem>.md`` (the markdown ``table``), ``<stem>.csv`` and, with ``per_image``,
    ``<stem>_per_image.csv`` in ``folder``; returns the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    md = folder / f"{stem}.md"
    md.write_text(table + "\n")
    files = [(folder / f"{stem}.csv", SUMMARY_COLUMNS, rows(results, False))]
    if per_image:
        files.append((folder / f"{stem}_per_image.csv", PER_IMAGE_COLUMNS, rows(results, True)))
    for path, columns, data in files:
        with open(path, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(columns)
            writer.writerows(data)
    return [md, *(path for path, _, _ in files)]
