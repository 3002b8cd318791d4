"""W&B run naming: one ``group`` per sweep, a run name that says what the run is.

Registered as OmegaConf resolvers in :mod:`srlab.cli.config` and used by ``conf/logger/wandb.yaml``:

* ``${srlab.run_group:${experiment_name}}`` -> in a ``-m`` sweep (grid or Optuna), the sweep
  directory's name prefixed by its parent (``multirun-2026-01-31_12-00-00``), shared by every job of
  the sweep; otherwise the experiment name.
* ``${srlab.run_name:<model>,<scale>}`` -> ``srcnn_915_x3 lr=0.0003,n1=32``: model, scale and the
  hyper-parameters given on the command line (the ones a sweep varies), not paths or logging knobs.
* ``${srlab.run_tags:${tags}}`` -> the configured tags, plus ``sweep`` and the group in a sweep.
"""

from __future__ import annotations

from pathlib import Path

# Command-line keys that do not describe the experiment (where things go, how they are shown).
_NOISE_PREFIXES = (
    "paths",
    "hydra",
    "logger",
    "callbacks",
    "debug",
    "hparams_search",
    "torch_threads",
    "matmul_precision",
    "ckpt",
    "init_from",
    "resume",
    "tags",
    "experiment_name",
    "task_name",
    "optimized_metric",
    "trainer.log_every_n_steps",
    "trainer.enable_",
    "data.num_workers",
    "data.train_dir",
    "data.val_dir",
    "data.pin_memory",
)
_NAME_KEYS = ("model", "data.scale")  # already in the name's head
_MAX_NAME = 128


def _hydra_cfg():
    from hydra.core.hydra_config import HydraConfig

    return HydraConfig.get() if HydraConfig.initialized() else None


def in_sweep() -> bool:
    """True inside a job of a Hydra multirun (``-m``, grid or Optuna)."""
    from hydra.types import RunMode

    hc = _hydra_cfg()
    return hc is not None and hc.mode == RunMode.MULTIRUN


def sweep_group(default: str) -> str:
    """The sweep's W&B group (same for every job of one ``-m`` launch), else ``default``."""
    if not in_sweep():
        return str(default)
    sweep_dir = Path(str(_hydra_cfg().sweep.dir))
    return f"{sweep_dir.parent.name}-{sweep_dir.name}" if sweep_dir.parent.name else sweep_dir.name


def key_overrides(overrides: list[str]) -> list[str]:
    """``["model.optimizer.lr=3e-4", "paths.data_dir=/x"]`` -> ``["lr=3e-4"]``: the hyper-parameters."""
    keep = []
    for item in overrides:
        if item.startswith("~") or "=" not in item:
            continue
        key, value = item.lstrip("+").split("=", 1)
        if key in _NAME_KEYS or key.startswith(_NOISE_PREFIXES) or "/" in value:
            continue
        keep.append(f"{key.rsplit('.', 1)[-1]}={value}")
    return keep


def swept_keys() -> set[str]:
    """Keys the current sweep varies: Optuna's ``hydra.sweeper.params`` and the command line's
    sweep overrides (``a=1,2``, ``range(…)``, ``choice(…)``…), read from ``<sweep dir>/multirun.yaml``."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf import OmegaConf

    hc = _hydra_cfg()
    keys = set((hc.sweeper.get("params") or {}).keys()) if hc is not None else set()
    master = Path(str(hc.sweep.dir)) / "multirun.yaml" if hc is not None else None
    if master is not None and master.is_file():
        task = OmegaConf.load(master).hydra.overrides.task
        for override in OverridesParser.create().parse_overrides([str(o) for o in task]):
            if override.is_sweep_override():
                keys.add(override.key_or_group)
    return keys


def run_name(model: str, scale) -> str:
    """``<model>_x<scale>`` followed by the swept values in a sweep, else the hyper-parameter overrides."""
    head = f"{model}_x{scale}"
    hc = _hydra_cfg()
    task = list(hc.overrides.task) if hc is not None else []
    if in_sweep():
        swept = swept_keys()
        task = [o for o in task if o.split("=", 1)[0].lstrip("+~") in swept] or task
    extra = key_overrides(task)
    name = f"{head} {','.join(extra)}" if extra else head
    return name if len(name) <= _MAX_NAME else name[: _MAX_NAME - 1] + "…"


def _swept_overrides() -> list[str]:
    """This job's values of the keys its sweep varies (``["lr=0.0003"]``), shortened."""
    hc = _hydra_cfg()
    if hc is None or not in_sweep():
        return []
    swept = swept_keys()
    task = [o for o in hc.overrides.task if o.split("=", 1)[0].lstrip("+~") in swept]
    values = []
    for item in task:  # group choices (model=fsrcnn) and keys (lr=0.0003) alike
        key, _, value = item.lstrip("+").partition("=")
        values.append(f"{key.rsplit('.', 1)[-1]}={value}")
    return values


def job_dir_name(experiment_name: str) -> str:
    """Folder of a multirun job (after its number): the experiment name, then the values this job
    takes of the swept keys, so ``0_…_lr=0.0003`` and ``1_…_lr=0.001`` say what differs."""
    parts = [str(experiment_name), *_swept_overrides()]
    name = "_".join(parts)
    name = "".join(c if c.isalnum() or c in "=._-,+" else "-" for c in name)
    return name if len(name) <= _MAX_NAME else name[:_MAX_NAME]


def run_tags(tags) -> list[str]:
    """The configured tags, plus ``sweep`` and the sweep's group inside a multirun."""
    out = [str(t) for t in (tags or [])]
    if in_sweep():
        out += ["sweep", sweep_group("")[:64]]
    return list(dict.fromkeys(out))
