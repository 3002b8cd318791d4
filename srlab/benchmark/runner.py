"""Run the sections a bench config asks for, write ``BENCHMARKS.md``, return the headline lines."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

log = logging.getLogger("srlab.bench")

SECTIONS = ("training", "overhead", "datapath", "inference", "quality", "cuda")


def run(cfg: DictConfig, command: str | None = None) -> tuple[Path, list[str]]:
    """Measure ``cfg.sections`` (see ``conf/bench.yaml``); returns the file and its headlines."""
    import torch

    from srlab.benchmark import report
    from srlab.benchmark.common import Context, load_warning, machine
    from srlab.errors import ConfigError
    from srlab.utils.logs import quiet_library_output

    cfg = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))  # before Hydra state changes
    unknown = [s for s in cfg.sections if s not in SECTIONS]
    if unknown:
        raise ConfigError(f"sections={list(cfg.sections)}: unknown {unknown}; valid: {SECTIONS}")
    if cfg.get("tune_malloc", True):
        # srlab.train's default (train.yaml tune_malloc), for both sides from the first timing.
        from srlab.utils.hardware import tune_malloc

        tune_malloc()
    warning = load_warning()
    if warning:
        log.warning(warning)
    import lightning  # noqa: F401  (quiet_library_output acts on Lightning's loggers)

    from srlab.utils.hardware import skip_absent_nvml

    # As srlab.train does. A bare loop without Lightning imported never pays the failing NVML
    # load that Lightning's variable (set on import) adds to every optimizer step: nor does the
    # bare side here.
    skip_absent_nvml()

    quiet_library_output()
    ctx = Context(
        train_overrides=[str(o) for o in cfg.train_overrides],
        warmup=int(cfg.warmup),
        window=int(cfg.window),
        repeats=int(cfg.repeats),
        keep_dir=cfg.keep_dir,
    )
    sections = []
    for key in SECTIONS:
        if key not in cfg.sections:
            continue
        log.info("measuring: %s", key)
        sections.append(_section(key, cfg, ctx))
        ctx.headlines += sections[-1].headlines
    info = machine()
    info["torch threads"] = str(torch.get_num_threads())
    command = command or "python -m srlab.bench " + " ".join(sys.argv[1:])
    path = report.write(cfg.out, sections, info, command.strip())
    return path, ctx.headlines


def _section(key: str, cfg: DictConfig, ctx):
    if key == "training":
        from srlab.benchmark.training_section import training_section

        return training_section(
            ctx,
            list(cfg.training.models),
            list(cfg.training.settings),
            [list(v) for v in cfg.training.get("variants", [])],
            bool(cfg.training.get("gap", False)),
        )
    if key == "overhead":
        from srlab.benchmark.overhead import overhead_section

        o = cfg.overhead
        return overhead_section(
            ctx, str(o.model), [str(x) for x in o.shrink], int(o.steps), int(o.rounds)
        )
    if key == "datapath":
        from srlab.benchmark.datapath import datapath_section

        return datapath_section(ctx, list(cfg.datapath.degradations), str(cfg.datapath.model))
    if key == "inference":
        from srlab.benchmark.inference import inference_section

        inf = cfg.inference
        rss = OmegaConf.to_container(inf.rss) if inf.get("rss") else None
        return inference_section(ctx, list(inf.models), int(inf.scale), int(inf.size), rss)
    if key == "quality":
        from srlab.benchmark.quality import quality_section

        q = cfg.quality
        runs = [OmegaConf.to_container(r) for r in q.runs]
        return quality_section(
            ctx,
            list(q.overrides),
            int(q.steps),
            int(q.val_every),
            runs,
            str(q.get("key", "quality")),
        )
    from srlab.benchmark.cuda import cuda_section

    c = cfg.cuda
    return cuda_section(
        ctx, list(c.models), int(c.batch), int(c.patch), bool(c.compile), bool(c.graphs)
    )
