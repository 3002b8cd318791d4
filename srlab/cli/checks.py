"""Start-up checks of the training config: one short line naming the key, before any work starts.

Two stages, both raising :class:`srlab.errors.ConfigError` (printed as ``srlab: error: …`` with exit
status 2 by the entry points):

* :func:`check_group_choices` — on the raw command line, before Hydra composes: an unknown option of a
  config group (``model=srcnx``) is reported with the valid names listed from ``conf/<group>/*.yaml``
  (Hydra's own error is a multi-line search-path dump).
* :func:`validate_train_config` — on the composed config: value ranges and types (scale, patch size,
  batch size, learning rate, …), missing required values, missing data folders and checkpoint paths.
"""

from __future__ import annotations

import difflib
import numbers
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from srlab.cli.config import CONFIG_DIR
from srlab.errors import ConfigError


def search_path_dirs(args: Iterable[str]) -> list[str]:
    """Config directories a command line adds to Hydra's search path: ``--config-dir DIR`` /
    ``-cd DIR`` / ``--config-dir=DIR`` and ``hydra.searchpath=[file://DIR,…]`` (a user's own
    configs: extra model/data/… options, or overrides of srlab's)."""
    args = list(args)
    dirs = []
    for i, arg in enumerate(args):
        if arg in ("--config-dir", "-cd") and i + 1 < len(args):
            dirs.append(args[i + 1])
        elif arg.startswith("--config-dir="):
            dirs.append(arg.split("=", 1)[1])
        elif arg.lstrip("+").startswith("hydra.searchpath="):
            value = arg.split("=", 1)[1].strip("[]")
            dirs += [v.strip().removeprefix("file://") for v in value.split(",") if v.strip()]
    folders = [Path(d).expanduser().resolve() for d in dirs]
    for folder in folders:
        if not folder.is_dir():
            raise ConfigError(
                f"config directory {folder} (--config-dir / hydra.searchpath): no such folder"
            )
    return [str(f) for f in folders]


def group_options(
    group: str, config_dir: str | Path = CONFIG_DIR, extra_dirs: Iterable[str] = ()
) -> list[str]:
    """Option names of a config group: the ``*.yaml`` files under ``<dir>/<group>/`` of srlab's
    config directory and of the user's ones."""
    names = set()
    for root in (config_dir, *extra_dirs):
        folder = Path(root) / group
        if folder.is_dir():
            names |= {str(p.relative_to(folder).with_suffix("")) for p in folder.rglob("*.yaml")}
    return sorted(names)


def config_groups(config_dir: str | Path = CONFIG_DIR, extra_dirs: Iterable[str] = ()) -> list[str]:
    """Top-level config groups (sub-folders of the config directories), ``hydra`` excluded."""
    names = set()
    for root in (config_dir, *extra_dirs):
        if Path(root).is_dir():
            names |= {p.name for p in Path(root).iterdir() if p.is_dir() and p.name != "hydra"}
    return sorted(names)


def check_group_choices(
    overrides: Iterable[str], config_dir: str | Path = CONFIG_DIR, config_name: str = "train"
) -> None:
    """Raise ConfigError for ``group=option`` overrides naming an option that does not exist.

    Sweeps (``model=srcnn,fsrcnn``, ``choice(…)``) are checked option by option; deletions and
    ``null`` are fine. Options of the user's config directories (:func:`search_path_dirs`) count.
    """
    args = list(overrides)
    extra = search_path_dirs(args)
    if any(a.lstrip("+").startswith("hydra.searchpath=") and "pkg://" in a for a in args):
        return  # options inside a package cannot be listed here; Hydra checks them
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    groups = set(config_groups(config_dir, extra))
    candidates = [
        a
        for a in args
        if not a.startswith("-")
        and "=" in a
        and a.split("=", 1)[0].lstrip("+").split("@")[0] in groups
    ]
    try:
        parsed = OverridesParser.create().parse_overrides(candidates)
    except OverrideParseException:
        return  # let Hydra report syntax errors
    for override in parsed:
        group = override.key_or_group.split("@")[0]
        if override.is_delete() or group not in groups:
            continue
        values = (
            list(override.sweep_string_iterator())
            if override.is_sweep_override()
            else [override.value()]
        )
        valid = group_options(group, config_dir, extra)
        for value in values:
            if value is None or str(value) in ("null", "None") or str(value) in valid:
                continue
            close = difflib.get_close_matches(str(value), valid, n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise ConfigError(
                f"unknown {group} {str(value)!r} ({group}={value}); {hint}valid: {', '.join(valid)}"
            )


def _select(cfg: DictConfig, key: str) -> Any:
    return OmegaConf.select(cfg, key, default=None, throw_on_missing=False)


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _missing_keys(node: DictConfig | ListConfig, prefix: str = "") -> Iterator[str]:
    """Keys set to ``???`` (OmegaConf's "required"), found without resolving interpolations."""
    keys = node.keys() if isinstance(node, DictConfig) else range(len(node))
    for key in keys:
        full = f"{prefix}{key}" if isinstance(node, DictConfig) else f"{prefix.rstrip('.')}[{key}]"
        if OmegaConf.is_missing(node, key):
            yield full
            continue
        child = node._get_node(key)
        if isinstance(child, (DictConfig, ListConfig)) and not child._is_interpolation():
            yield from _missing_keys(child, f"{full}.")


def validate_train_config(cfg: DictConfig) -> None:
    """Raise ConfigError for the first invalid value of a composed training config."""
    missing = list(_missing_keys(cfg))
    if missing:
        key = missing[0]
        raise ConfigError(f"{key} is required but not set: add {key}=… to the command line")

    scale = _select(cfg, "data.scale")
    if scale is not None and (not _is_int(scale) or scale < 2):
        raise ConfigError(f"data.scale={scale}: must be an integer >= 2 (2, 3, 4, …)")

    patch = _select(cfg, "data.patch_size")
    if patch is not None:
        from srlab.data.datasets import check_patch_size

        check_patch_size(patch, scale if scale is not None else 1)

    batch = _select(cfg, "data.batch_size")
    if batch is not None and (not _is_int(batch) or batch < 1):
        raise ConfigError(f"data.batch_size={batch}: must be an integer >= 1")

    per_epoch = _select(cfg, "data.patches_per_epoch")
    if per_epoch is not None:
        if not _is_int(per_epoch) or per_epoch < 1:
            raise ConfigError(f"data.patches_per_epoch={per_epoch}: must be an integer >= 1")
        if batch is not None and per_epoch < batch:
            raise ConfigError(
                f"data.patches_per_epoch={per_epoch}: smaller than data.batch_size={batch}, "
                "an epoch would have no batch"
            )

    workers = _select(cfg, "data.num_workers")
    if workers is not None and (not _is_int(workers) or workers < 0):
        raise ConfigError(f"data.num_workers={workers}: must be an integer >= 0")

    lr = _select(cfg, "model.optimizer.lr")
    if lr is not None and (not _is_number(lr) or not lr > 0):
        raise ConfigError(f"model.optimizer.lr={lr}: the learning rate must be a number > 0")

    max_steps = _select(cfg, "trainer.max_steps")
    if max_steps is not None and (not _is_int(max_steps) or (max_steps < 1 and max_steps != -1)):
        raise ConfigError(
            f"trainer.max_steps={max_steps}: must be an integer >= 1 (or -1: no limit)"
        )

    for key in ("data.train_dir", "data.val_dir", "data.test_dir"):
        folder = _select(cfg, key)
        if isinstance(folder, str) and not Path(folder).expanduser().is_dir():
            raise ConfigError(f"{key}={folder}: no such folder")

    resume = cfg.get("resume")
    if resume not in (None, False, "auto"):
        raise ConfigError(
            f"resume={resume}: must be 'auto' or null (use ckpt=PATH to resume a given checkpoint)"
        )
    ckpt = cfg.get("ckpt")
    if ckpt is not None and not Path(str(ckpt)).expanduser().is_file():
        raise ConfigError(f"ckpt={ckpt}: no such checkpoint file")

    every = _select(cfg, "callbacks.periodic_checkpoint.every_n_train_steps")
    if every is not None and (not _is_int(every) or every < 1):
        raise ConfigError(
            f"callbacks.periodic_checkpoint.every_n_train_steps={every}: must be an integer >= 1"
        )
    action = _select(cfg, "callbacks.nonfinite_guard.action")
    if action is not None and action not in ("stop", "skip"):
        raise ConfigError(f"callbacks.nonfinite_guard.action={action}: must be 'stop' or 'skip'")
