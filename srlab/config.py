"""Hydra/OmegaConf glue: config location and custom resolvers (registered on import)."""

from __future__ import annotations

import warnings
from pathlib import Path

from omegaconf import OmegaConf

# conf/ lives at the repository top level (editable install), beside the srlab package.
CONFIG_DIR = str(Path(__file__).resolve().parent.parent / "conf")


def _wandb_offline() -> bool:
    from srlab.utils.wandb_mode import wandb_offline

    return wandb_offline()


def _register() -> None:
    from srlab.utils import distributed, run_names

    resolvers = {
        "srlab.wandb_offline": _wandb_offline,
        # W&B group/name/tags of a run (conf/logger/wandb.yaml); see srlab.utils.run_names.
        "srlab.run_group": run_names.sweep_group,
        "srlab.run_name": run_names.run_name,
        "srlab.run_tags": run_names.run_tags,
        # DDP devices/nodes from torchrun or SLURM (conf/trainer/ddp.yaml).
        "srlab.ddp_devices": distributed.ddp_devices,
        "srlab.ddp_num_nodes": distributed.ddp_num_nodes,
    }
    for name, fn in resolvers.items():
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn)


_register()

# conf/hydra/launcher/submitit_slurm.yaml deliberately shares its name with the plugin's schema so
# that `hydra/launcher=submitit_slurm` picks srlab's defaults and Hydra type-checks them against
# the plugin's dataclass; Hydra 1.3 still does this but warns about it on every launch.
warnings.filterwarnings(
    "ignore", message=r"\s*'hydra/launcher/submitit_slurm' is validated against ConfigStore schema"
)


def _run_dir(experiment_dir: str, timestamp: str, resume=None) -> str:
    from srlab.resume import run_dir

    return run_dir(experiment_dir, timestamp, resume)


if not OmegaConf.has_resolver("srlab.run_dir"):
    # hydra.run.dir: with resume=auto, the latest run of the experiment (see srlab/resume.py).
    OmegaConf.register_new_resolver("srlab.run_dir", _run_dir, use_cache=True)
