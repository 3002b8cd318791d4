"""``--help`` of each command: its own keys with one-line descriptions, and its config groups.

Generated from the command's primary config (``conf/<command>.yaml``): the comment block at the
top is the description, the comment lines just above each top-level key describe that key, and the
``defaults`` list names the groups the command composes (their options are the YAML files of each
group folder, srlab's and the user's). So a key added to a config is documented where it is set.
"""

from __future__ import annotations

import re
from pathlib import Path

from srlab.cli.checks import group_options
from srlab.cli.config import CONFIG_DIR

_SKIP_KEYS = ("defaults", "hydra", "task_name")
_KEY_LINE = re.compile(r"^([A-Za-z_][\w]*):(.*)$")
_DEFAULT_LINE = re.compile(r"^\s*-\s*(override\s+)?([\w/]+)\s*:\s*(\S+)?")


def _parse(text: str) -> tuple[list[str], list[tuple[str, str, str]], list[tuple[str, str]]]:
    """``(description lines, [(key, default, doc)], [(group, default option)])`` of a config."""
    lines = text.splitlines()
    description: list[str] = []
    for line in lines:
        if not line.startswith("#"):
            break
        description.append(line.lstrip("#").strip())
    keys, groups, comment = [], [], []
    in_defaults = False
    for line in lines[len(description) :]:
        if line.startswith("#"):
            comment.append(line.lstrip("#").strip())
            continue
        match = _KEY_LINE.match(line)
        if match:
            key, value = match.group(1), match.group(2).strip()
            in_defaults = key == "defaults"
            if key not in _SKIP_KEYS:
                keys.append((key, value, " ".join(comment)))
            comment = []
            continue
        if in_defaults:
            d = _DEFAULT_LINE.match(line)
            if d and not d.group(2).startswith("hydra"):
                groups.append((d.group(2), d.group(3) or ""))
        if not line.strip():
            comment = []
    return description, keys, groups


def _one_line(text: str, width: int = 96) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


def command_help(command: str, extra_dirs: list[str] | None = None) -> str:
    """The help text of ``python -m srlab.<command>``."""
    from srlab.cli.app import ALIASES

    description, keys, groups = _parse((Path(CONFIG_DIR) / f"{command}.yaml").read_text())
    out = [f"usage: python -m srlab.{command} [key=value ...] [group=option ...]", ""]
    out += [d for d in description if d] + [""]
    if keys:
        out.append("Keys (key=value):")
        width = max(len(k) for k, _, _ in keys)
        for key, value, doc in keys:
            shown = f" [{value}]" if value and not value.startswith(("#", "${")) else ""
            out.append(f"  {key:<{width}}  {_one_line(doc) if doc else ''}{shown}")
        out.append("")
    if groups:
        out.append("Config groups (group=option; default in brackets):")
        width = max(len(g) for g, _ in groups)
        for group, default in groups:
            options = ", ".join(group_options(group, extra_dirs=extra_dirs or []))
            out.append(f"  {group:<{width}}  [{default}] {_one_line(options, 110)}")
        out.append("")
    aliases = ALIASES.get(command, {})
    if aliases:
        documented = [f"{a}= sets {t}=" for a, t in aliases.items() if a in ("scale", "ckpt")]
        old = [f"{a}= (for {t}=)" for a, t in aliases.items() if a not in ("scale", "ckpt")]
        if documented:
            out.append(f"Same name in every srlab command: {', '.join(documented)}.")
        if old:
            out.append(f"Also accepted: {', '.join(old)}.")
    out.append(
        "Any key of the composed config can be set (`--cfg job` prints it); -m runs a sweep; "
        "--config-dir DIR adds your own config groups; --hydra-help shows Hydra's own help."
    )
    return "\n".join(out)
