"""Hydra/OmegaConf glue: config location and custom resolvers (registered on import)."""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

# conf/ lives at the repository top level (editable install), beside the srlab package.
CONFIG_DIR = str(Path(__file__).resolve().parent.parent / "conf")


def _wandb_offline() -> bool:
    from srlab.utils.wandb_mode import wandb_offline

    return wandb_offline()


if not OmegaConf.has_resolver("srlab.wandb_offline"):
    OmegaConf.register_new_resolver("srlab.wandb_offline", _wandb_offline)


def _run_dir(experiment_dir: str, timestamp: str, resume=None) -> str:
    from srlab.resume import run_dir

    return run_dir(experiment_dir, timestamp, resume)


if not OmegaConf.has_resolver("srlab.run_dir"):
    # hydra.run.dir: with resume=auto, the latest run of the experiment (see srlab/resume.py).
    OmegaConf.register_new_resolver("srlab.run_dir", _run_dir, use_cache=True)
