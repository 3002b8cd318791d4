"""On a CUDA GPU: the training comparison at GPU settings, CUDA graphs, and a step's breakdown.

Settings: batch 128 of 48 px HR patches, ``trainer=gpu`` (bf16-mixed where the GPU has native
bf16), channels-last, ``torch.compile`` on both sides (``compile`` in the bench config). CUDA
graphs are measured on the bare loop (``torch.compile(mode="reduce-overhead")``): they remove the
per-kernel launch cost, which is what is left for networks as small as SRCNN once the host never
waits for the device. The breakdown is a separate, synchronised srlab run
(:class:`~srlab.benchmark.breakdown.StepBreakdown`).

Without a GPU the section says "not measured"; the code path is exercised by the ``gpu``-marked
tests (``tests/benchmark``) on machines that have one.
"""

from __future__ import annotations

import dataclasses

import torch

from srlab.benchmark.breakdown import bare_breakdown, breakdown_run, breakdown_table
from srlab.benchmark.common import Context, Section, scratch_dir, time_windows
from srlab.benchmark.training import (
    PRECISION_LABELS,
    BareLoop,
    bare_rate,
    premade_batch,
    srlab_rate,
)


def gpu_overrides(ctx: Context, batch: int, patch: int, compile: bool) -> list[str]:
    return [
        *ctx.train_overrides,
        "trainer=gpu",
        f"data.batch_size={batch}",
        f"data.patch_size={patch}",
        "model.channels_last=true",
        f"model.compile={str(bool(compile)).lower()}",
    ]


def cuda_section(
    ctx: Context, models: list[str], batch: int, patch: int, compile: bool, graphs: bool
) -> Section:
    section = Section(
        "cuda",
        "CUDA: srlab against the bare loop on a GPU",
        ["network", "settings (both sides)", "srlab patches/s", "bare patches/s", "srlab / bare"],
    )
    if graphs:
        section.columns.append("bare + CUDA graphs")
    if not torch.cuda.is_available():
        section.rows.append(
            ["SRCNN", f"batch {batch} x {patch} px"]
            + ["not measured (no CUDA device)"] * (len(section.columns) - 2)
        )
        section.headlines.append("training ratio srlab/bare (cuda): not measured (no CUDA device)")
        return section
    overrides = gpu_overrides(ctx, batch, patch, compile)
    breakdowns = []
    for model in models:
        with scratch_dir(ctx.keep_dir) as run_dir:
            measured, settings, cfg = srlab_rate(
                model, overrides, ctx.warmup, ctx.window, ctx.repeats, run_dir
            )
        srlab = measured.srlab
        device = torch.device("cuda")
        tensors = premade_batch(cfg, device)
        bare = bare_rate(cfg, settings, ctx.warmup, ctx.window, ctx.repeats, tensors)
        ratio = srlab.median / bare.median
        row = [
            f"SRCNN {settings.network}",
            f"{torch.cuda.get_device_name()}, {settings.label}, {batch} x {patch}x{patch}, "
            f"{settings.workers} workers",
            srlab.fmt(),
            bare.fmt(),
            f"**{ratio:.3f}**",
        ]
        if graphs:
            graphed = dataclasses.replace(settings, compile=True)
            loop = BareLoop(cfg, graphed, *tensors, compile_mode="reduce-overhead")
            rate = time_windows(
                loop.step, settings.batch, ctx.warmup + 3, ctx.window, ctx.repeats, device
            )
            row.append(rate.fmt())
        section.rows.append(row)
        section.headlines.append(
            f"training ratio srlab/bare ({model.split('_')[0]} {settings.network}, cuda, "
            f"{PRECISION_LABELS.get(settings.precision, settings.precision)}): {ratio:.2f}"
        )
        srlab_phases = breakdown_run(ctx, model, overrides, synchronize=True)
        loop = BareLoop(cfg, settings, *tensors)
        bare_phases = bare_breakdown(loop.parts, device, ctx.warmup, ctx.window)
        if srlab_phases:
            breakdowns.append(
                f"**SRCNN {settings.network}** (synchronised at every phase):\n\n"
                + breakdown_table(srlab_phases, bare_phases)
            )
    section.extra = "\n\n".join(breakdowns) + "\n" if breakdowns else ""
    section.notes.append(
        f"As the CPU table: median of {ctx.repeats} windows of {ctx.window} steps after "
        f"{ctx.warmup} warm-up steps; the device is synchronised at window edges only."
    )
    return section
