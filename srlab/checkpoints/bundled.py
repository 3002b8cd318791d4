"""The bundled trained models: files in ``srlab/weights/`` listed in its ``registry.json``.

Each registry entry has at least ``file`` (relative to ``srlab/weights``), ``scale``,
``in_channels`` and ``description``; ``sha256`` is checked on load. :func:`bundle_checkpoint`
ships a training checkpoint as a weights-only file and registers it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch

import srlab

# The one place that knows where the bundled weights live.
WEIGHTS_DIR = Path(srlab.__file__).resolve().parent / "weights"
REGISTRY_FILE = WEIGHTS_DIR / "registry.json"
BICUBIC = "bicubic"


def bundled_weights(weights_dir: Path = WEIGHTS_DIR) -> dict[str, dict[str, Any]]:
    """The registry of checkpoints shipped in ``srlab/weights/``: ``{name: metadata}``.

    Each entry has at least ``file`` (relative to ``srlab/weights``), ``scale``, ``in_channels``
    and ``description``; ``sha256`` is checked on load when present.
    """
    registry = Path(weights_dir) / REGISTRY_FILE.name
    if not registry.is_file():
        return {}
    with open(registry, encoding="utf-8") as f:
        return json.load(f)


def valid_names() -> list[str]:
    """Every name ``ckpt=`` accepts besides paths: ``bicubic`` and the bundled checkpoints."""
    return [BICUBIC, *sorted(bundled_weights())]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def strip_checkpoint(ckpt: dict[str, Any]) -> dict[str, Any]:
    """What inference needs of a training checkpoint: weights, srlab metadata, hyper-parameters."""
    keep = (
        "state_dict",
        "srlab",
        "hyper_parameters",
        "global_step",
        "epoch",
        "pytorch-lightning_version",
    )
    return {k: ckpt[k] for k in keep if k in ckpt}


def bundle_checkpoint(
    source: str | Path,
    name: str,
    description: str,
    extra: dict[str, Any] | None = None,
    weights_dir: Path = WEIGHTS_DIR,
) -> Path:
    """Ship a trained checkpoint as ``srlab/weights/<name>.ckpt`` and register it.

    The optimizer and loop states are dropped (a weights-only file of a few tens of kB for
    SRCNN); the registry entry records scale, colour mode, architecture, sha256 and ``extra``.
    """
    from srlab.checkpoints.loading import (
        CheckpointError,
        checkpoint_meta,
        read_checkpoint,
        resolve_checkpoint,
        target_name,
    )

    src = resolve_checkpoint(source)[1]
    if src is None:
        raise CheckpointError("bicubic has no weights to bundle")
    ckpt = strip_checkpoint(read_checkpoint(src))
    meta = checkpoint_meta(ckpt)
    weights_dir = Path(weights_dir)
    weights_dir.mkdir(parents=True, exist_ok=True)
    out = weights_dir / f"{name}.ckpt"
    torch.save(ckpt, out)
    registry = bundled_weights(weights_dir)
    registry[name] = {
        "file": out.name,
        "description": description,
        "architecture": target_name((meta.get("net_config") or {}).get("_target_")),
        "net_config": meta.get("net_config"),
        "scale": meta.get("scale"),
        "in_channels": meta.get("in_channels"),
        "global_step": ckpt.get("global_step"),
        "sha256": sha256_of(out),
        **(extra or {}),
    }
    with open(weights_dir / REGISTRY_FILE.name, "w", encoding="utf-8") as f:
        json.dump(registry, f, indent=2, sort_keys=True)
        f.write("\n")
    return out
