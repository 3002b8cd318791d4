"""The data path alone: patches/s of the DataModule's loader and of each degradation on the device,
as multiples of the model's training rate (the data path keeps up when the multiple is well above
1; the target is 5).

* loader — ``SRDataModule.train_dataloader()`` as configured (its workers, in-RAM crops or the
  decoded-image cache, flips/rotations, collation), iterated after warm-up batches (worker
  start-up excluded);
* degradation — ``SRDataModule.degrade`` on a collated uint8 batch already on the device: uint8 to
  float, then every ``conf/degradation/<name>.yaml`` pipeline making the LR batch, drawing its
  parameters from the training generator as in training.
"""

from __future__ import annotations

import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import OmegaConf

from srlab.benchmark.common import Context, Rate, Section, scratch_dir, time_windows, train_config
from srlab.utils.hardware import training_device_type


def loader_rate(datamodule, warmup: int, window: int, repeats: int) -> Rate:
    """Patches/s drawn from the training DataLoader (batches of ``datamodule.batch_size``)."""
    import time

    datamodule.setup("fit")
    loader = datamodule.train_dataloader()
    iterator = iter(loader)

    def next_batch():
        nonlocal iterator
        try:
            return next(iterator)
        except StopIteration:
            iterator = iter(loader)
            return next(iterator)

    for _ in range(warmup):
        next_batch()
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(window):
            next_batch()
        rates.append(datamodule.batch_size * window / (time.perf_counter() - start))
    del iterator  # stops the workers
    return Rate.of(rates)


def datapath_section(ctx: Context, degradations: list[str], model: str = "srcnn") -> Section:
    """Loader and degradation rates for ``model``'s srlab training settings."""
    section = Section(
        "datapath",
        "Data path alone, against the model's training rate",
        ["stage", "settings", "patches/s", "x model rate"],
    )
    with scratch_dir(ctx.keep_dir) as run_dir:
        with train_config([*ctx.train_overrides, f"model={model}"], run_dir) as probe:
            cfg = OmegaConf.create(OmegaConf.to_container(probe, resolve=True))
            default_name = str(HydraConfig.get().runtime.choices.get("degradation"))
    torch.set_num_threads(int(cfg.torch_threads or torch.get_num_threads()))
    device = torch.device(training_device_type(cfg.trainer.accelerator))
    if ctx.model_rate is None:  # the training section did not run: measure the bare loop
        from srlab.benchmark.training import bare_rate, settings_of

        settings = settings_of(cfg, model)
        ctx.model_rate = bare_rate(cfg, settings, ctx.warmup, ctx.window, ctx.repeats).median
        ctx.model_rate_label = f"SRCNN {settings.network} bare loop, {settings.label}"
    rate_of_model = ctx.model_rate

    datamodule = instantiate(cfg.data, degradation=instantiate(cfg.degradation))
    batch_size, patch = int(cfg.data.batch_size), int(cfg.data.patch_size)
    storage = "in RAM" if cfg.data.in_memory else "decoded-image cache"
    loader = loader_rate(datamodule, ctx.warmup, ctx.window, ctx.repeats)
    section.rows.append(
        [
            "DataModule loader (crops, flips, collation)",
            f"{cfg.data.num_workers} workers, {storage}, {batch_size} x {patch} px",
            loader.fmt(),
            f"**{loader.median / rate_of_model:.1f}**",
        ]
    )
    default_rate = None
    uint8 = next(iter(datamodule.train_dataloader()))["hr"]
    for name in degradations:
        with scratch_dir(ctx.keep_dir) as run_dir:
            overrides = [*ctx.train_overrides, f"model={model}", f"degradation={name}"]
            with train_config(overrides, run_dir) as probe:
                pipeline = instantiate(probe.degradation)
        dm = instantiate(cfg.data, degradation=pipeline)
        dm.degradation.to(device)
        batch = {"hr": uint8.to(device)}
        rate = time_windows(
            lambda dm=dm, batch=batch: dm.degrade(batch, training=True),
            batch_size,
            ctx.warmup,
            ctx.window,
            ctx.repeats,
            device,
        )
        if name == default_name:
            default_rate = rate.median
        section.rows.append(
            [
                f"degradation={name}",
                f"{device.type}, {batch_size} x 3 x {patch}x{patch} uint8 -> x{cfg.data.scale} LR",
                rate.fmt(),
                f"**{rate.median / rate_of_model:.1f}**",
            ]
        )
    if default_rate is not None:
        # Without workers both run in the training process, one after the other.
        serial = 1 / (1 / loader.median + 1 / default_rate)
        section.rows.append(
            [
                "loader + default degradation in series",
                "per batch without workers, the LR made batch by batch "
                "(with `data.lr_per_image` the loader's crops carry the LR made once per image)",
                f"{serial:,.0f}",
                f"**{serial / rate_of_model:.1f}**",
            ]
        )
        section.headlines.append(
            f"data path / model rate (loader + {default_name} degradation, "
            f"{device.type}): {serial / rate_of_model:.1f}x"
        )
    section.notes.append(
        f"Model rate: {rate_of_model:,.0f} patches/s ({ctx.model_rate_label}). Median of "
        f"{ctx.repeats} windows of {ctx.window} batches after {ctx.warmup} warm-up batches "
        "(range in brackets); worker start-up is excluded."
    )
    return section
