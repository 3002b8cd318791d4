"""Score several models on the same images with the paper protocol and write the comparison.

:func:`run_comparison` loads every model (any ``ckpt=`` form, see :mod:`srlab.checkpoints`), scores
each one at each scale it supports with :func:`srlab.evaluation.evaluate_source` (the protocol's one
implementation; its ``on_image`` hook saves the outputs for the viewer and the figure), adds the
paired bootstrap statistics against the reference and writes, into one folder::

    table.md  table.csv  table.tex  per_image.csv  comparison.json
    figure_x<scale>.png  figure_x<scale>.pdf
    index.html  images/<set>_x<scale>/<image>/{hr,sr_<model>,err_<model>}.png

Its length: loading the models of one comparison, scoring them on the same images once and saving
what the table, figure and viewer need; the statistics, tables, figure and viewer are separate
modules.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from srlab.comparison.results import Comparison, ModelScore, SetComparison, clean_json, slugify
from srlab.errors import ConfigError

log = logging.getLogger("srlab.compare")

__all__ = ["BootstrapSettings", "FigureSettings", "ModelEntry", "load_models", "run_comparison"]

BICUBIC = "bicubic"


@dataclass
class BootstrapSettings:
    """Paired bootstrap of per-image ΔPSNR: ``resamples`` draws, ``seed``, ``confidence`` level."""

    resamples: int = 10000
    seed: int = 0
    confidence: float = 0.95


@dataclass
class FigureSettings:
    """Which images and crop boxes the paper figure shows.

    Attributes:
        images: image ids (``Set/name`` or a name unique across the sets); ``None``: the ``count``
            images on which the models' PSNRs differ most.
        boxes: one ``[x, y, w, h]`` (HR pixels) or ``None`` (chosen automatically) per image.
        count: images chosen automatically per scale.
        crop: side of automatically chosen boxes, HR pixels.
    """

    images: list[str] | None = None
    boxes: list[Sequence[int] | None] | None = None
    count: int = 2
    crop: int = 48


@dataclass
class ModelEntry:
    """One entry of ``models=``: its label, file slug and the loaded network (``None``: bicubic)."""

    spec: str
    label: str
    slug: str
    scale: int | None  # None: any scale (bicubic)
    loaded: Any = None
    meta: dict = field(default_factory=dict)

    @property
    def is_bicubic(self) -> bool:
        return self.loaded is None

    def net(self, scale: int):
        """The network to score at ``scale`` (bicubic: RGB MATLAB bicubic, the papers' row)."""
        if self.loaded is None:
            from srlab.models.bicubic import Bicubic

            return Bicubic(scale, 3)
        return self.loaded.net


def _default_label(spec: str, loaded) -> str:
    """Short, readable label: bundled name; a file's stem; a run's ``<experiment>/<run>``."""
    if loaded is None:
        return BICUBIC
    if loaded.meta.get("sha256") and loaded.path is not None and spec == loaded.name:  # bundled
        return loaded.name
    path = Path(loaded.path)
    if path.stem not in ("best", "last"):
        return path.stem
    run = path.parent.parent if path.parent.name == "checkpoints" else path.parent
    # Run directories are timestamps; the experiment folder above says what was trained.
    return f"{run.parent.name}/{run.name}" if run.name[:1].isdigit() else run.name


def load_models(
    specs: Sequence[str], labels: Sequence[str] | None = None, device: str = "cpu"
) -> list[ModelEntry]:
    """Resolve and load every ``models=`` entry; labels given or derived, unique."""
    from srlab.checkpoints import load_model

    specs = [str(s) for s in specs]
    if not specs:
        raise ConfigError("models: name at least one model (a .ckpt, a run dir, a bundled name)")
    if labels is not None and len(labels) != len(specs):
        raise ConfigError(
            f"labels: {len(labels)} labels for {len(specs)} models; give one label per model"
        )
    entries, seen_labels, slugs = [], set(), set()
    for i, spec in enumerate(specs):
        if spec.strip().lower() == BICUBIC:
            loaded, scale = None, None
        else:
            loaded = load_model(spec, device=device)
            scale = int(loaded.scale)
        label = str(labels[i]) if labels is not None else _default_label(spec, loaded)
        if label in seen_labels:
            if labels is not None:
                raise ConfigError(f"labels: {label!r} is given twice")
            base, k = label, 2
            while label in seen_labels:
                label, k = f"{base} ({k})", k + 1
        seen_labels.add(label)
        meta = {} if loaded is None else {"in_channels": loaded.in_channels}
        entries.append(ModelEntry(spec, label, slugify(label, slugs), scale, loaded, meta))
    return entries


def _sources(sets: Sequence[str], root: str | Path) -> list[tuple[str, Any]]:
    """``data.sets`` entries -> ``(label, ImageSource)``: a set name under ``root``, or a folder."""
    from srlab.data.sources import BenchmarkSet, FolderImages

    out, taken = [], set()
    for entry in sets:
        text = str(entry)
        path = Path(text).expanduser()
        as_path = os.sep in text or "/" in text or text.startswith((".", "~"))
        if as_path:
            source = FolderImages(path)
            name = path.name if path.name.lower() != "hr" else path.parent.name
        else:
            source = BenchmarkSet(root, text)
            name = source.set_name
        label, k = name, 2
        while label in taken:
            label, k = f"{name}_{k}", k + 1
        taken.add(label)
        out.append((label, source))
    return out


def _scales_for(entries: list[ModelEntry], scales: Sequence[int] | None) -> list[int]:
    ckpt_scales = sorted({e.scale for e in entries if e.scale is not None})
    if scales is None or len(scales) == 0:
        if not ckpt_scales:
            raise ConfigError(
                "data.scales: only bicubic was given, which has no scale of its own; "
                "pass data.scales=[2,3,4] (or some of them)"
            )
        return ckpt_scales
    scales = [int(s) for s in scales]
    for e in entries:
        if e.scale is not None and e.scale not in scales:
            raise ConfigError(
                f"models: {e.label} ({e.spec}) is a x{e.scale} checkpoint and a checkpoint is "
                f"used at its own scale, but data.scales={scales}; add {e.scale} to data.scales "
                "or drop the model"
            )
    return scales


def _pick_reference(entries: list[ModelEntry], reference: str) -> ModelEntry:
    for e in entries:
        if reference in (e.label, e.spec):
            return e
    valid = ", ".join(e.label for e in entries)
    raise ConfigError(f"reference={reference!r} is none of the models (valid: {valid})")


class _Saver:
    """``on_image`` hook of :func:`srlab.evaluation.evaluate_source`: writes the viewer images."""

    def __init__(
        self, out: Path, group: SetComparison, entry: ModelEntry, error_max: float, save_hr: bool
    ) -> None:
        self.out, self.group, self.entry = out, group, entry
        self.error_max, self.save_hr = error_max, save_hr
        self.folder = Path("images") / f"{slugify(group.dataset)}_x{group.scale}"

    def __call__(self, item: dict) -> None:
        from srlab.comparison.render import display_rgb, error_map, error_rgb, save_png, to_uint8

        name, hr, sr = item["name"], item["hr"], item["sr"]
        scale = self.group.scale
        files = self.group.files.setdefault(name, {})
        img_dir = self.folder / slugify(name)
        if self.save_hr:
            hr_rgb = to_uint8(hr)
            if hr_rgb.shape[2] == 1:
                hr_rgb = hr_rgb.repeat(3, axis=2)
            save_png(hr_rgb, self.out / img_dir / "hr.png")
            files["HR"] = (img_dir / "hr.png").as_posix()
            self.group.sizes[name] = (int(hr.shape[-2]), int(hr.shape[-1]))
        sr_rel = img_dir / f"sr_{self.entry.slug}.png"
        err_rel = img_dir / f"err_{self.entry.slug}.png"
        save_png(display_rgb(sr, hr, item["lr"], scale), self.out / sr_rel)
        err = error_rgb(error_map(sr, hr), self.error_max, shave=scale)
        save_png(err, self.out / err_rel)
        files[f"sr/{self.entry.label}"] = sr_rel.as_posix()
        files[f"err/{self.entry.label}"] = err_rel.as_posix()


def score_sets(
    entries: list[ModelEntry],
    sources: list[tuple[str, Any]],
    scales: list[int],
    reference: ModelEntry,
    out: Path,
    degradation_for_scale: Callable[[int], Any] | None = None,
    device: str = "auto",
    seed: int = 42,
    round_y: bool = False,
    error_max: float = 32.0,
    bootstrap: BootstrapSettings | None = None,
    log_fn: Callable[[str], None] = log.info,
    grey_as_rgb: bool = False,
) -> tuple[list[SetComparison], list[str]]:
    """Every model at every scale it supports on every set; paired statistics against ``reference``.

    Returns the per-(set, scale) results (sets outermost, as ``srlab.evaluate``) and notes on the
    models that were skipped at some scale.
    """
    from srlab.comparison.stats import paired_delta
    from srlab.protocol.scoring import evaluate_source

    bootstrap = bootstrap or BootstrapSettings()
    notes = []
    for scale in scales:
        for e in entries:
            if e.scale is not None and e.scale != scale:
                line = f"{e.label} skipped at x{scale}: a x{e.scale} checkpoint is used at x{e.scale} only"
                log_fn(line)
                notes.append(line)
    groups = []
    for set_label, source in sources:
        for scale in scales:
            degradation = degradation_for_scale(scale) if degradation_for_scale else None
            group = SetComparison(set_label, scale, [], {})
            for i, e in enumerate(m for m in entries if m.scale in (None, scale)):
                result = evaluate_source(
                    e.net(scale),
                    source,
                    scale,
                    degradation,
                    device,
                    seed,
                    round_y,
                    model_name=e.label,
                    dataset=set_label,
                    on_image=_Saver(out, group, e, error_max, save_hr=i == 0),
                    grey_as_rgb=grey_as_rgb,
                )
                log_fn(
                    f"{e.label} {set_label} x{scale}: {result.psnr:.3f} dB, SSIM "
                    f"{result.ssim:.4f} ({result.images} images, {result.seconds:.1f} s)"
                )
                group.images = [row["name"] for row in result.per_image]
                group.scores[e.label] = ModelScore(
                    e.label, result.psnr, result.ssim, result.images, result.per_image
                )
            ref = group.scores[reference.label]
            for label, score in group.scores.items():
                if label == reference.label:
                    continue
                delta, stats = paired_delta(
                    [r["psnr"] for r in score.per_image],
                    [r["psnr"] for r in ref.per_image],
                    resamples=bootstrap.resamples,
                    seed=bootstrap.seed,
                    confidence=bootstrap.confidence,
                )
                score.delta, score.delta_per_image = stats, [float(d) for d in delta]
            groups.append(group)
    return groups, notes


def run_comparison(
    models: Sequence[str],
    sets: Sequence[str],
    out_dir: str | Path,
    scales: Sequence[int] | None = None,
    root: str | Path = "data",
    reference: str = BICUBIC,
    labels: Sequence[str] | None = None,
    degradation_for_scale: Callable[[int], Any] | None = None,
    device: str = "auto",
    seed: int = 42,
    round_y: bool = False,
    bootstrap: BootstrapSettings | None = None,
    figure: FigureSettings | None = None,
    grey_as_rgb: bool = False,
    error_max: float = 32.0,
    digits: int = 2,
    caption: str | None = None,
    latex_label: str = "tab:sr-comparison",
    viewer: bool = True,
    sweeps: Sequence[str | Path] = (),
    log_fn: Callable[[str], None] = log.info,
) -> tuple[Comparison, dict[str, Path]]:
    """Compare ``models`` on ``sets`` and write tables, figures and the viewer into ``out_dir``.

    Args:
        models: ``ckpt=`` forms (``.ckpt`` file, run directory, bundled name, ``bicubic``).
            ``bicubic`` is added when absent: it is every table's baseline and a viewer source.
        sets: benchmark set names under ``root`` or image folders (any entry with a ``/``).
        out_dir: output folder (created).
        scales: SR factors; ``None``: the checkpoints' own scales.
        root: data root of named sets (``paths.data_dir``).
        reference: the model ΔPSNR is measured against (a label or a ``models`` entry).
        labels: display names, one per ``models`` entry (default: derived from the spec).
        degradation_for_scale: ``scale -> degradation``; default MATLAB bicubic with uint8 LR.
        device, seed, round_y, grey_as_rgb: as in :func:`srlab.protocol.scoring.evaluate_source`.
        bootstrap, figure: see :class:`BootstrapSettings`, :class:`FigureSettings`.
        error_max: error-map colour scale: this many Y levels (0..255 scale) and above is brightest.
        digits, caption, latex_label: table formatting (see :mod:`srlab.comparison.tables`).
        viewer: write ``index.html``.
        sweeps: sweep directories (``srlab.report`` inputs) whose seed groups fill the viewer's
            training view.

    Returns:
        The :class:`Comparison` and ``{kind: path}`` of every written file.
    """
    from srlab.comparison import tables

    specs = [str(m) for m in models]
    labels = None if labels is None else [str(x) for x in labels]
    if not any(s.strip().lower() == BICUBIC for s in specs):
        specs.append(BICUBIC)
        if labels is not None:
            labels.append(BICUBIC)
        log_fn("bicubic added to the models (the baseline every comparison shows)")
    entries = load_models(specs, labels)
    ref = _pick_reference(entries, str(reference))
    scales = _scales_for(entries, scales)
    sources = _sources(sets, root)
    if not sources:
        raise ConfigError("data.sets: name at least one set or image folder")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    bootstrap = bootstrap or BootstrapSettings()
    groups, notes = score_sets(
        entries,
        sources,
        scales,
        ref,
        out,
        degradation_for_scale,
        device,
        seed,
        round_y,
        error_max,
        bootstrap,
        log_fn,
        grey_as_rgb,
    )
    cmp = Comparison(
        models=[e.label for e in entries],
        reference=ref.label,
        sets=groups,
        resamples=bootstrap.resamples,
        seed=bootstrap.seed,
        confidence=bootstrap.confidence,
        round_y=round_y,
        grey_as_rgb=grey_as_rgb,
        specs={e.label: e.spec for e in entries},
        notes=notes,
    )
    written = tables.write_tables(cmp, out, digits=digits, caption=caption, label=latex_label)
    with open(out / "comparison.json", "w") as f:
        json.dump(clean_json(comparison_json(cmp)), f, indent=1)
    written["json"] = out / "comparison.json"

    from srlab.comparison.figure import write_figures

    written.update(write_figures(cmp, out, figure or FigureSettings()))
    if viewer:
        from srlab.comparison.viewer import training_data, write_viewer

        training = training_data(sweeps) if sweeps else None
        written["viewer"] = write_viewer(out, cmp, training, error_max=error_max)
    return cmp, written


def comparison_json(cmp: Comparison) -> dict:
    """Every number of the comparison (means, intervals, per-image scores) as plain JSON."""
    return {
        "models": cmp.models,
        "specs": cmp.specs,
        "reference": cmp.reference,
        "bootstrap": {
            "resamples": cmp.resamples,
            "seed": cmp.seed,
            "confidence": cmp.confidence,
        },
        "protocol": cmp.protocol(),
        "notes": cmp.notes,
        "sets": [
            {
                "dataset": g.dataset,
                "scale": g.scale,
                "images": g.images,
                "models": {
                    label: {
                        "psnr": s.psnr,
                        "ssim": s.ssim,
                        "images": s.images,
                        **(s.delta.as_dict() if s.delta is not None else {}),
                        "per_image": [
                            {
                                **row,
                                **({"delta": s.delta_per_image[i]} if s.delta_per_image else {}),
                            }
                            for i, row in enumerate(s.per_image)
                        ],
                    }
                    for label, s in g.scores.items()
                },
            }
            for g in cmp.sets
        ],
    }
