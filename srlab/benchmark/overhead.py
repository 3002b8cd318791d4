"""Host time per training step, layer by layer, on a network too small to hide it.

The training section's ratio srlab/bare moves by about ±0.02 from run to run on a 2-core CPU,
which hides any change below 2%: a convolution-bound step varies more than the host work it is
compared with. Here the network is shrunk (``overhead.shrink``, e.g. SRCNN with one filter per
layer) while the batch, patch size, precision, memory format, optimizer and loss stay srlab's
defaults, so a step is almost all host work, and five runs add one layer each:

1. the bare loop (:class:`~srlab.benchmark.training.BareLoop`) on one pre-made batch;
2. Lightning's loop: :class:`LightningFloor`, a LightningModule holding the same network, loss and
   optimizer, on the same batch, with no callbacks, logger, progress bar or checkpoints;
3. ``srlab.train`` with the batch made once (:mod:`srlab.benchmark.gap`, ``model_space``): srlab's
   module, its default callbacks and a CSV logger;
4. ``srlab.train`` as is: + the crops (of the HR and LR images, the LR made once per image by
   default: ``data.lr_per_image``);
5. ``srlab.train`` with ``data.lr_per_image=false``: the LR and colour conversion made for every
   batch instead (ahead, as srlab makes them), against run 4.

The differences are what each layer adds to a step, to tens of microseconds, and each is put
against the bare step of the full-size network; srlab's total over the bare loop is run 4's.
Inside a real step the same host work costs more than here (its code and data meet caches and a
core the convolutions have just used), so these are lower bounds on each layer's share of the
training section's gap.
"""

from __future__ import annotations

import itertools
import statistics

import lightning as L
import torch
from omegaconf import OmegaConf

from srlab.benchmark.common import Context, Section, scratch_dir, time_windows, train_config
from srlab.benchmark.training import BareLoop, StepClock, premade_batch, settings_of, srlab_rate

# (row label, what the layer adds) in the order the runs add them.
LAYERS = (
    ("bare loop", "the network, loss and optimizer on one pre-made batch"),
    (
        "+ Lightning's loop",
        "a LightningModule with the same network, loss and optimizer; no callbacks, logger, "
        "progress bar or checkpoints",
    ),
    (
        "+ srlab's module, callbacks and logger",
        "`srlab.train` with the batch made once: SRModule, the default callbacks, CSV logger",
    ),
    (
        "+ crops",
        "`srlab.train` as is: crops of the HR and of the LR made once per image "
        "(`data.lr_per_image`)",
    ),
    (
        "LR and colour per batch instead",
        "`srlab.train` with `data.lr_per_image=false`: uint8 HR crops, their LR and the "
        "network's colour made for every batch (ahead, as srlab makes them)",
    ),
)
AS_IS = 3  # the row of srlab as is


class LightningFloor(L.LightningModule):
    """Lightning's training loop around a :class:`BareLoop`'s network, loss and optimizer.

    The batch is the bare loop's ``(lr, hr)``; precision comes from the Trainer (``bf16-mixed``
    autocasts forward and loss, as the bare loop does by hand).
    """

    def __init__(self, loop: BareLoop) -> None:
        super().__init__()
        self.net = loop.net
        self.__dict__["_loop"] = loop  # not a submodule: its forward may be a compiled wrapper

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int):
        lr, hr = batch
        loop = self.__dict__["_loop"]
        return loop.loss_fn(loop.forward(lr), hr)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return self.__dict__["_loop"].optimizer


def lightning_step_s(loop: BareLoop, precision: str, warmup: int, steps: int, run_dir) -> float:
    """Seconds per step of :class:`LightningFloor` on the loop's batch (``steps`` timed steps)."""
    StepClock.interleave = None
    clock = StepClock(warmup, steps)
    trainer = L.Trainer(
        accelerator=loop.device.type,
        devices=1,
        precision=precision,
        max_steps=warmup + steps,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        callbacks=[clock],
        default_root_dir=str(run_dir),
    )
    batches = itertools.repeat((loop.lr, loop.hr), warmup + steps + 1)
    trainer.fit(LightningFloor(loop), train_dataloaders=batches)
    return clock.durations[0] / steps


def overhead_section(
    ctx: Context, model: str, shrink: list[str], steps: int, rounds: int
) -> Section:
    """The five runs of the module doc, ``rounds`` times in turn; medians of µs per step."""
    from srlab.benchmark.gap import gap_overrides

    section = Section(
        "overhead",
        "Host time per training step, layer by layer",
        ["run", "µs per step", "added", "added / bare step of the full network"],
    )
    overrides = [*ctx.train_overrides, *shrink]
    times: list[list[float]] = [[] for _ in LAYERS]
    with scratch_dir(ctx.keep_dir) as run_dir:
        with train_config([*ctx.train_overrides, f"model={model}"], run_dir) as probe:
            full_cfg = OmegaConf.create(OmegaConf.to_container(probe, resolve=True))
        with train_config([*overrides, f"model={model}"], run_dir) as probe:
            cfg = OmegaConf.create(OmegaConf.to_container(probe, resolve=True))
        settings = settings_of(cfg, model)
        torch.set_num_threads(settings.threads)
        device = torch.device(settings.device)
        full_settings = settings_of(full_cfg, model)
        # One batch for both networks: shrinking changes the filters, not the data or colour mode.
        batch = premade_batch(cfg, device)
        full = BareLoop(full_cfg, full_settings, *batch)
        full_rate = time_windows(
            full.step, settings.batch, ctx.warmup, ctx.window, ctx.repeats, device
        )
        full_step_s = settings.batch / full_rate.median
        del full
        loop = BareLoop(cfg, settings, *batch)
        for _ in range(rounds):
            bare = time_windows(loop.step, settings.batch, ctx.warmup, steps, 1, device)
            times[0].append(settings.batch / bare.median)
            times[1].append(lightning_step_s(loop, settings.precision, ctx.warmup, steps, run_dir))
            for layer, extra in (
                (2, gap_overrides("model_space")),
                (3, []),
                (4, ["data.lr_per_image=false"]),
            ):
                measured, _, _ = srlab_rate(
                    model, [*overrides, *extra], ctx.warmup, steps, 1, run_dir
                )
                times[layer].append(settings.batch / measured.srlab.median)
    medians = [statistics.median(t) for t in times]
    for i, ((label, _), t) in enumerate(zip(LAYERS, times, strict=True)):
        added = medians[i] - medians[i - 1] if i else None
        section.rows.append(
            [
                label,
                f"{medians[i] * 1e6:,.0f} ({min(t) * 1e6:,.0f}–{max(t) * 1e6:,.0f})",
                "" if added is None else f"{added * 1e6:+,.0f}",
                "" if added is None else f"{added / full_step_s:+.1%}",
            ]
        )
    total = medians[AS_IS] - medians[0]
    section.rows.append(
        [
            "srlab over the bare loop",
            "",
            f"**{total * 1e6:+,.0f}**",
            f"**{total / full_step_s:+.1%}**",
        ]
    )
    # "SRCNN 9-1-5" for SRCNN-like configs, else the network's class name.
    name = str(full_cfg.model.net._target_).rsplit(".", 1)[-1]
    network = name if full_settings.network == name else f"{name} {full_settings.network}"
    section.notes += [
        f"Network: {network} shrunk by `{' '.join(shrink)}`; batch {settings.batch} x "
        f"{settings.patch}x{settings.patch}, {settings.device}, {settings.label}, "
        f"{settings.workers} workers / {settings.threads} threads (srlab's defaults). The full "
        f"network's bare step: {full_step_s * 1e3:.2f} ms (median of {ctx.repeats} windows of "
        f"{ctx.window} steps).",
        "",
        "Runs: "
        + "; ".join(f"*{label}*: {what}" for label, what in LAYERS)
        + f". Each run times {steps} steps after {ctx.warmup} warm-up steps; the five runs "
        f"alternate, {rounds} rounds; median (range) over rounds.",
        "",
        "Measured in isolation: inside a full-size step the same host work takes longer (its "
        "code and data meet caches and a core the convolutions have just used), so each share "
        "is a lower bound on that layer's part of the training section's gap.",
        "",
    ]
    added_ms = [(medians[i] - medians[i - 1]) * 1e3 for i in range(1, len(LAYERS))]
    section.headlines.append(
        f"host time per step over the bare loop ({network} shrunk, {settings.device}): "
        f"Lightning {added_ms[0]:+.2f} ms, srlab {added_ms[1]:+.2f} ms, "
        f"crops {added_ms[2]:+.2f} ms; LR and colour per batch instead {added_ms[3]:+.2f} ms "
        "(bare step of the full network: "
        f"{full_step_s * 1e3:.1f} ms)"
    )
    return section
