"""Hydra/OmegaConf glue: where the configs are, and srlab's resolvers (registered on import).

The configs live in ``conf/`` at the repository's top level and are shipped inside the wheel as
``srlab/conf`` (``setup.py`` copies them at build time). :func:`config_dir` finds them through the
installed package; only a source checkout without an install (``PYTHONPATH=.``, editable installs)
falls back to the ``conf/`` beside the package.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from omegaconf import OmegaConf

import srlab


def config_dir() -> str:
    """Absolute path of srlab's config directory (the one holding ``train.yaml``)."""
    package = Path(srlab.__file__).resolve().parent
    for candidate in (package / "conf", package.parent / "conf"):
        if (candidate / "train.yaml").is_file():
            return str(candidate)
    from srlab.errors import SrlabError

    raise SrlabError(
        f"srlab's configs are missing: neither {package / 'conf'} (an installed wheel) nor "
        f"{package.parent / 'conf'} (a source checkout) holds train.yaml; reinstall srlab"
    )


CONFIG_DIR = config_dir()


def _wandb_offline() -> bool:
    from srlab.utils.wandb_mode import wandb_offline

    return wandb_offline()


def _evaluated_name(ckpt, model_choice) -> str:
    """What ``srlab.evaluate`` scores, for its run folder: ``evaluate_<name>``. With ``ckpt=`` the
    checkpoint's name (``srcnn``, ``srcnn_x3``, a file's stem), not the unused ``model=`` default."""
    if ckpt in (None, "", "null"):
        return str(model_choice)
    return Path(str(ckpt).rstrip("/")).stem or str(model_choice)


def _register() -> None:
    from srlab.utils import distributed, hardware, run_names

    resolvers = {
        "srlab.wandb_offline": _wandb_offline,
        "srlab.evaluated_name": _evaluated_name,
        # W&B group/name/tags of a run (conf/logger/wandb.yaml); see srlab.utils.run_names.
        "srlab.run_group": run_names.sweep_group,
        "srlab.run_name": run_names.run_name,
        "srlab.run_tags": run_names.run_tags,
        # Multirun job folders: <num>_<experiment>_<swept values> (conf/hydra/default.yaml).
        "srlab.job_dir": run_names.job_dir_name,
        # DDP devices/nodes from torchrun or SLURM (conf/trainer/ddp.yaml).
        "srlab.ddp_devices": distributed.ddp_devices,
        "srlab.ddp_num_nodes": distributed.ddp_num_nodes,
        # Machine-dependent defaults (conf/trainer/default.yaml, conf/data/*.yaml, train.yaml),
        # chosen by measurement: see srlab/utils/hardware.py and BENCHMARKS.md.
        "srlab.precision": hardware.default_precision,
        "srlab.num_workers": hardware.default_num_workers,
        "srlab.torch_threads": hardware.default_torch_threads,
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
    from srlab.training.resume import run_dir

    return run_dir(experiment_dir, timestamp, resume)


if not OmegaConf.has_resolver("srlab.run_dir"):
    # hydra.run.dir: with resume=auto, the latest run of the experiment (see srlab/training/resume.py).
    OmegaConf.register_new_resolver("srlab.run_dir", _run_dir, use_cache=True)


def instantiate_for_scale(cfg, node: str, scale: int, scale_key: str = "data.scale"):
    """Instantiate config ``node`` (e.g. ``"model.net"``) with ``scale_key`` set to ``scale``.

    Model and degradation configs read the SR factor by interpolation (``${data.scale}``), so the
    whole config is copied, the key set, and the node instantiated from the copy.
    """
    import copy

    from hydra.utils import instantiate
    from omegaconf import open_dict

    cfg = copy.deepcopy(cfg)
    with open_dict(cfg):
        OmegaConf.update(cfg, scale_key, int(scale), force_add=True)
    return instantiate(OmegaConf.select(cfg, node))
