"""The training section of ``BENCHMARKS.md``: srlab against the bare loop for each network, where
a step's time goes, and the bare loop under each precision / memory format / compile setting.

The measuring itself is :mod:`srlab.benchmark.training`'s; this module runs it in a fair order
(windows of the bare loop interleaved with srlab's, in one process, so a drift of the machine's
speed cannot favour either side) and writes the tables.
"""

from __future__ import annotations

import dataclasses
import time

import torch
from omegaconf import DictConfig, OmegaConf

from srlab.benchmark.breakdown import bare_breakdown, breakdown_run, breakdown_table
from srlab.benchmark.common import Context, Section, scratch_dir, sync, time_windows, train_config
from srlab.benchmark.training import (
    PRECISION_LABELS,
    BareLoop,
    Settings,
    premade_batch,
    settings_of,
    srlab_rate,
)


def training_section(
    ctx: Context,
    models: list[str],
    settings_grid: list[dict],
    variants: list[list[str]] = (),
    gap: bool = False,
) -> Section:
    """srlab against the bare loop for each network, with srlab's defaults applied to both (and
    once more per ``variants`` entry: extra overrides for both sides, e.g. a larger batch); the
    per-phase breakdown; with ``gap``, the same run with parts of the data path pre-made
    (:mod:`srlab.benchmark.gap`); and the bare loop under each precision / memory format / compile
    setting.
    """
    section = Section(
        "training",
        "Training throughput: srlab against a bare PyTorch loop",
        [
            "network",
            "settings (both sides)",
            "batch",
            "workers / threads",
            "srlab patches/s",
            "bare patches/s",
            "srlab / bare",
        ],
    )
    breakdowns, grid_rows, gap_rows, windows = [], [], [], {}
    for model in models:
        for variant in [[], *variants]:
            default = not variant
            measured, settings, cfg, loop, batch = _compare(ctx, model, [*variant])
            srlab, bare, ratio = measured.srlab, measured.bare, measured.ratio
            windows[settings.batch] = measured.window
            if default and gap:
                gap_rows.append(_gap_row(ctx, model, settings, ratio))
            device = settings.device
            section.rows.append(
                [
                    f"SRCNN {settings.network}" if model.startswith("srcnn") else model,
                    f"{device}, {settings.label}",
                    f"{settings.batch} x {settings.patch}x{settings.patch}"
                    + ("" if default else f" ({' '.join(variant)})"),
                    f"{settings.workers} / {settings.threads}",
                    srlab.fmt(),
                    bare.fmt(),
                    f"**{ratio:.3f}**",
                ]
            )
            section.headlines.append(
                f"training ratio srlab/bare ({model.split('_')[0]} {settings.network}, {device}, "
                f"{PRECISION_LABELS.get(settings.precision, settings.precision)}"
                + ("" if default else f", {' '.join(variant)}")
                + f"): {ratio:.2f}"
            )
            if not default:
                continue
            if ctx.model_rate is None:
                ctx.model_rate = srlab.median
                ctx.model_rate_label = f"SRCNN {settings.network} srlab training, {settings.label}"
            bare_phases = bare_breakdown(loop.parts, torch.device(device), ctx.warmup, ctx.window)
            # On the CPU only clock reads (no sync); on CUDA see srlab.benchmark.cuda.
            srlab_phases = (
                breakdown_run(ctx, model, ctx.train_overrides, synchronize=False)
                if device == "cpu"
                else {}
            )
            if srlab_phases:
                breakdowns.append(
                    f"**SRCNN {settings.network}** ({device}, {settings.label}):\n\n"
                    + breakdown_table(srlab_phases, bare_phases)
                )
            grid_rows.append(settings_grid_row(cfg, settings, batch, settings_grid, ctx))
    section.notes += [
        f"Median of {ctx.repeats} windows after {ctx.warmup} warm-up steps (range in brackets); "
        f"a window is {ctx.window} steps or more, a multiple of the training batches srlab makes "
        "ahead (`data.batches_ahead`), so that every window pays for the same number of them: "
        + ", ".join(f"{w} steps at batch {b}" for b, w in sorted(windows.items()))
        + ". The two sides alternate in one process: a window of the bare loop "
        "runs before, between and after srlab's windows (srlab's clock is stopped meanwhile), so "
        "both see the machine at the same minutes; *srlab / bare* is the median over srlab's "
        "windows of its rate over the mean of the two bare windows around it. srlab: "
        "`srlab.train` itself with the default callbacks (progress bar, "
        "checkpoints, LR monitor, metrics log, non-finite guard) and `logger=csv`; one epoch "
        "longer than the run, so validation is excluded (it runs once, after the timed steps). "
        "Bare: the same network (config and seed), optimizer, loss, precision, memory format "
        "and compile setting on one pre-made batch already in the network's colour space.",
        "",
    ]
    if breakdowns:
        section.extra += (
            "### Where a step's time goes\n\n"
            "ms per step (`srlab.benchmark.breakdown`; srlab: the mean over its steps, which "
            "counts the batches made ahead every few steps in full; bare: the median): the "
            "srlab phases read the clock at "
            "Lightning's hooks, in a run of their own (the timed runs above have no such "
            "instrumentation); *loader* is the loop's bookkeeping plus the next batch (crops "
            "of the HR and of the LR made per image, or with the LR made per batch the HR "
            "crops and, for batches made ahead, their LR and colour conversion; collation, "
            "host-to-device copy), *degradation* the LR made on the device batch by batch (0 "
            "when made per image or ahead), *forward* `training_step` (colour conversion, "
            "network, loss, logging).\n\n" + "\n\n".join(breakdowns) + "\n\n"
        )
    if gap_rows:
        section.extra += (
            "### What the gap is made of\n\n"
            "srlab / bare as above, first with the LR made batch by batch "
            "(`data.lr_per_image=false`: each batch's crops degraded and converted to the "
            "network's colour, several batches at a time, `data.batches_ahead`) instead of once "
            "per training image (the default for a degradation that draws nothing, such as "
            "bicubic), then with more and more of the training batch made once and reused "
            "(`srlab.benchmark.gap.PremadeDataModule`): *crops made once* takes the cropping "
            "off the step (with the LR made per image, these crops are HR and LR already in the "
            "network's colour), *everything made once* leaves Lightning's loop with srlab's "
            "module and callbacks alone.\n\n"
            "| network | LR per batch | srlab as is | crops made once | everything made once |\n"
            "|---|---:|---:|---:|---:|\n" + "\n".join(gap_rows) + "\n\n"
        )
    if any(grid_rows):
        names = [setting_label(s) for s in settings_grid]
        section.extra += (
            "### The bare loop by setting (patches/s; the defaults rest on this)\n\n"
            + "| network | "
            + " | ".join(names)
            + " |\n|---|"
            + "---:|" * len(names)
            + "\n"
            + "\n".join(r for r in grid_rows if r)
            + "\n"
        )
    return section


def _gap_row(ctx: Context, model: str, settings: Settings, ratio: float) -> str:
    """One markdown row: srlab/bare with the LR made per batch, as is, then with each part of the
    batch pre-made."""
    from srlab.benchmark.gap import PREMADE, gap_overrides

    per_batch, _, _, _, _ = _compare(ctx, model, ["data.lr_per_image=false"])
    cells = [f"{per_batch.ratio:.3f}", f"{ratio:.3f}"]
    for premade in PREMADE:
        measured, _, _, _, _ = _compare(ctx, model, gap_overrides(premade))
        cells.append(f"{measured.ratio:.3f}")
    return f"| SRCNN {settings.network} | " + " | ".join(cells) + " |"


def _compare(ctx: Context, model: str, variant: list[str]):
    """One srlab run of ``model`` with the bare loop's windows interleaved (``variant``: extra
    srlab.train overrides for both sides, e.g. another batch size).

    Returns ``(measured, settings, cfg, bare loop, pre-made batch)``.
    """
    overrides = [*ctx.train_overrides, *variant]
    with scratch_dir(ctx.keep_dir) as run_dir:
        with train_config([*overrides, f"model={model}"], run_dir) as probe:
            cfg = OmegaConf.create(OmegaConf.to_container(probe, resolve=True))
        settings = settings_of(cfg, model)
        torch.set_num_threads(settings.threads)
        batch = premade_batch(cfg, torch.device(settings.device))
        loop = BareLoop(cfg, settings, *batch)
        for _ in range(ctx.warmup):
            loop.step()
        measured, settings, cfg = srlab_rate(
            model,
            overrides,
            ctx.warmup,
            ctx.window,
            ctx.repeats,
            run_dir,
            bare_window=loop.window_rate,
        )
    return measured, settings, cfg, loop, batch


def setting_label(setting: dict) -> str:
    parts = [PRECISION_LABELS.get(str(setting["precision"]), str(setting["precision"]))]
    parts += [k for k in ("channels_last", "compile") if setting.get(k)]
    return " + ".join(parts)


def settings_grid_row(
    cfg: DictConfig,
    settings: Settings,
    batch: tuple[torch.Tensor, torch.Tensor],
    grid: list[dict],
    ctx: Context,
) -> str:
    """One markdown row: the bare loop's patches/s under every setting of ``grid``."""
    if not grid:
        return ""
    cells, base = [], None
    for setting in grid:
        variant = dataclasses.replace(
            settings,
            precision=str(setting["precision"]),
            channels_last=bool(setting.get("channels_last", False)),
            compile=bool(setting.get("compile", False)),
        )
        loop = BareLoop(cfg, variant, *batch)
        start = time.perf_counter()
        loop.step()  # the first step compiles (when asked): timed apart
        sync(variant.device)
        first = time.perf_counter() - start
        rate = time_windows(
            loop.step, variant.batch, ctx.warmup, ctx.window, ctx.repeats, variant.device
        )
        base = base or rate.median
        cell = f"{rate.median:,.0f} (x{rate.median / base:.2f})"
        if variant.compile:
            cell += f", compile {first:.0f} s"
        cells.append(cell)
    return f"| SRCNN {settings.network} | " + " | ".join(cells) + " |"
