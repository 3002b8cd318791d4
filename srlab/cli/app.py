"""What every command does with its command line before Hydra starts: ``--help``, one vocabulary
(``scale=``, ``ckpt=``), and one-line errors for unknown options and misspelt keys.

:func:`prepare` runs first in each command's ``main()``. It imports only Hydra and OmegaConf, so a
typo is reported in well under a second, before torch or Lightning are loaded:

* ``--help`` / ``-h`` prints the command's own keys and config groups (:mod:`srlab.cli.help`);
* the same concept has the same name in every command: ``scale=`` (the SR factor; a list in
  ``srlab.evaluate``) and ``ckpt=`` (a checkpoint); the older spellings (``data.scale=``,
  ``data.scales=``, ``ckpt_path=``) are accepted and rewritten, with a note;
* ``model=bicubc`` names the valid options of the group; ``trainer.max_step=10`` names the
  closest valid key (``did you mean trainer.max_steps?``). Each is one ``srlab: error:`` line and
  exit status 2.
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Iterable

from omegaconf import DictConfig, ListConfig

from srlab.cli.checks import check_group_choices, config_groups, search_path_dirs
from srlab.cli.config import CONFIG_DIR
from srlab.errors import ConfigError, user_errors

# Per command: spelling on the command line -> the key the config uses. The first spelling of
# each concept is the documented one.
ALIASES: dict[str, dict[str, str]] = {
    "train": {"scale": "data.scale", "ckpt_path": "ckpt"},
    "evaluate": {"scale": "data.scales", "data.scale": "data.scales"},
    "compare": {"scale": "data.scales", "data.scale": "data.scales"},
    "infer": {"data.scale": "scale"},
    "export": {"data.scale": "scale"},
}
# Keys whose value is a list in the config: a single value is wrapped (``scale=3`` -> ``[3]``).
_LIST_KEYS = ("data.scales",)
_DOCUMENTED = {"data.scale": "scale", "data.scales": "scale", "ckpt_path": "ckpt"}


def prepare(command: str, argv: list[str] | None = None) -> None:
    """Check and normalise ``sys.argv`` (in place) for ``command`` (the config's name).

    Exits with status 0 after printing help, or 2 with one ``srlab: error:`` line.
    """
    args = sys.argv[1:] if argv is None else argv
    if any(a in ("--help", "-h") for a in args):
        from srlab.cli.help import command_help

        print(command_help(command, extra_dirs=search_path_dirs(args)))
        sys.exit(0)
    with user_errors():
        args = apply_aliases(command, args)
        check_group_choices(args, config_name=command)
        check_keys(command, args)
    if argv is None:
        sys.argv[1:] = args


def apply_aliases(command: str, args: list[str]) -> list[str]:
    """Rewrite the alternative spellings of ``command`` (:data:`ALIASES`) to the config's keys."""
    aliases = ALIASES.get(command, {})
    out = []
    for arg in args:
        key, sep, value = arg.partition("=")
        target = aliases.get(key)
        if not sep or target is None:
            out.append(arg)
            continue
        if target in _LIST_KEYS and not value.lstrip().startswith("["):
            value = f"[{value}]"  # scale=3 or scale=2,3 (a list here, not a sweep)
        if key in _DOCUMENTED and _DOCUMENTED[key] != key:
            print(
                f"srlab: note: {key}= is spelt {_DOCUMENTED[key]}= in every srlab command",
                file=sys.stderr,
            )
        out.append(f"{target}={value}")
    return out


def _has_key(cfg: DictConfig, dotted: str) -> bool:
    """Whether ``dotted`` names a node of ``cfg`` (interpolations are not resolved)."""
    node = cfg
    for part in dotted.split("."):
        if isinstance(node, ListConfig) and part.isdigit():
            if int(part) >= len(node):
                return False
            node = node._get_node(int(part))
            continue
        # (``part in node`` is False for a required ``???`` value: look at the keys instead.)
        if not isinstance(node, DictConfig) or part not in node.keys():
            return False
        node = node._get_node(part)
    return True


def _all_keys(node, prefix: str = "") -> Iterable[str]:
    if isinstance(node, DictConfig):
        for key in node.keys():
            full = f"{prefix}{key}"
            yield full
            child = node._get_node(key)
            if isinstance(child, DictConfig) and not child._is_interpolation():
                yield from _all_keys(child, f"{full}.")


def closest_key(cfg: DictConfig, dotted: str) -> str | None:
    """The valid key of ``cfg`` closest in spelling to ``dotted`` (same parent preferred)."""
    keys = list(_all_keys(cfg))
    parent = dotted.rpartition(".")[0]
    siblings = [k for k in keys if k.rpartition(".")[0] == parent]
    for pool in (siblings, keys):
        match = difflib.get_close_matches(dotted, pool, n=1, cutoff=0.6)
        if match:
            return match[0]
    return None


def _compose(command: str, overrides: list[str], extra_dirs: list[str]) -> DictConfig:
    from hydra import compose, initialize_config_dir

    searchpath = [f"hydra.searchpath=[{','.join('file://' + d for d in extra_dirs)}]"]
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose(command, overrides=overrides + (searchpath if extra_dirs else []))


def check_keys(command: str, args: list[str]) -> None:
    """Raise :class:`ConfigError` for a ``key=value`` override whose key the composed config lacks.

    Group choices are composed first (the first value of a swept group), then every plain key is
    looked up; ``+key=`` (additions), ``hydra.*`` and flags are left to Hydra.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException, OverrideParseException

    extra_dirs = search_path_dirs(args)
    groups = set(config_groups(extra_dirs=extra_dirs))
    candidates = [a for a in args if "=" in a and not a.startswith("-")]
    try:
        parsed = OverridesParser.create().parse_overrides(candidates)
    except OverrideParseException:
        return  # Hydra reports syntax errors itself
    group_overrides, keys = [], []
    for override, text in zip(parsed, candidates, strict=True):
        key = override.key_or_group
        if key.startswith("hydra") or override.is_add() or override.is_force_add():
            continue
        if key.split("@")[0] in groups:
            if not override.is_sweep_override():
                group_overrides.append(text)
            else:
                first = next(iter(override.sweep_string_iterator()), None)
                if first is not None:
                    group_overrides.append(f"{key}={first}")
            continue
        keys.append(key)
    if not keys:
        return
    try:
        cfg = _compose(command, group_overrides, extra_dirs)
    except HydraException:
        return  # a composition problem of its own: Hydra's message says what it is
    for key in keys:
        if _has_key(cfg, key):
            continue
        hint = closest_key(cfg, key)
        suggestion = f"; did you mean {hint}?" if hint else ""
        raise ConfigError(
            f"unknown key {key} for srlab.{command}{suggestion} "
            f"(`python -m srlab.{command} --help` lists the keys)"
        )
