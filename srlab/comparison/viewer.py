"""The self-contained HTML viewer: ``index.html`` (inline CSS, JS and data) + ``images/``.

Comparison view: a set/scale selector; the models' table and the per-image table (ΔPSNR of every
model), both sortable by clicking a header; for the selected image a before/after slider between
any two sources (HR, each model's output, each model's error map), a panel per source, and zoom
(wheel, buttons) and pan (drag) applied to every panel at once; error maps (|SR - HR| on Y) on a
toggle. Training view: validation PSNR of each seed group (mean line, ±1 std band) against step or
wall time, drawn as SVG by the page itself. Nothing is fetched from the network.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from srlab.comparison.results import Comparison, clean_json

__all__ = ["TEMPLATE", "comparison_payload", "training_data", "write_viewer"]

TEMPLATE = Path(__file__).with_name("viewer.html")


def _colormap_stops(name: str = "inferno", stops: int = 9) -> list[str]:
    from srlab.comparison.render import _lut

    lut = _lut(name)
    idx = [round(i * 255 / (stops - 1)) for i in range(stops)]
    return ["#{:02x}{:02x}{:02x}".format(*lut[i]) for i in idx]


def comparison_payload(cmp: Comparison, error_max: float = 32.0) -> dict[str, Any]:
    """The viewer's ``comparison`` object: per (set, scale) its summary rows and its images."""
    groups = []
    for g in cmp.sets:
        models = [m for m in cmp.models if m in g.scores]
        summary = []
        for m in models:
            s = g.scores[m]
            row = {"model": m, "psnr": s.psnr, "ssim": s.ssim, "reference": m == cmp.reference}
            if s.delta is not None:
                row.update(
                    delta=s.delta.mean,
                    ci_low=s.delta.low,
                    ci_high=s.delta.high,
                    improved=s.delta.improved,
                    n=s.delta.n,
                )
            summary.append(row)
        images = []
        for k, name in enumerate(g.images):
            h, w = g.sizes[name]
            scores = {}
            for m in models:
                s = g.scores[m]
                scores[m] = {
                    "psnr": s.per_image[k]["psnr"],
                    "ssim": s.per_image[k]["ssim"],
                    "delta": None if s.delta_per_image is None else s.delta_per_image[k],
                }
            images.append(
                {"name": name, "width": w, "height": h, "files": g.files[name], "scores": scores}
            )
        groups.append(
            {
                "dataset": g.dataset,
                "scale": g.scale,
                "models": models,
                "summary": summary,
                "images": images,
            }
        )
    return {
        "models": cmp.models,
        "reference": cmp.reference,
        "bootstrap": {"resamples": cmp.resamples, "seed": cmp.seed, "confidence": cmp.confidence},
        "error_max": error_max,
        "colormap": _colormap_stops(),
        "groups": groups,
    }


def training_data(sweeps) -> dict[str, Any] | None:
    """Seed groups (and their curves) of the runs of every sweep directory in ``sweeps``."""
    from srlab.comparison.seeds import group_runs, training_json
    from srlab.report import find_runs

    runs = [r for sweep in sweeps for r in find_runs(Path(sweep))]
    if not runs:
        return None
    return training_json(group_runs(runs))


def write_viewer(
    out: str | Path,
    cmp: Comparison | None,
    training: dict[str, Any] | None = None,
    error_max: float = 32.0,
    title: str | None = None,
    filename: str = "index.html",
) -> Path:
    """Write the viewer page into ``out`` (its images must already be in ``out/images``)."""
    notes = []
    if cmp is not None:
        notes.append(cmp.protocol() + ".")
        notes += [f"Note: {n}." for n in cmp.notes]
    if training is not None:
        notes.append(
            "Training: runs whose overrides differ only by seed= form a group; mean and ±1 sample "
            "standard deviation over its runs."
        )
    data = {
        "title": title
        or (
            "srlab comparison: " + ", ".join(cmp.models)
            if cmp is not None
            else "srlab training report"
        ),
        "notes": notes,
        "comparison": None if cmp is None else comparison_payload(cmp, error_max),
        "training": training,
    }
    # "<" escaped: the JSON sits inside a <script> element ("</script>" in a name must not end it).
    blob = json.dumps(clean_json(data), allow_nan=False).replace("<", "\\u003c")
    html = TEMPLATE.read_text(encoding="utf-8")
    html = html.replace("__SRLAB_TITLE__", _escape_html(data["title"]))
    html = html.replace("__SRLAB_DATA__", blob)
    path = Path(out) / filename
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return path


def _escape_html(text: str) -> str:
    return (
        str(text)
        .replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
    )
