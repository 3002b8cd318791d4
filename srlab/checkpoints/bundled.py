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
    """Every name ``ckpt=`` accepts besides paths: ``bicubic``, the bundled models and their
    families (``srcnn`` = ``srcnn_x<scale>``)."""
    registry = bundled_weights()
    families = {e["family"] for e in registry.values() if e.get("family")}
    return [BICUBIC, *sorted(set(registry) | families)]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def golden_digest(net, in_channels: int) -> str:
    """sha256 of the network's uint8-rounded output on a fixed 16x16 input (seeded, CPU, float32):
    a silent change of the weights or of the model code changes it (tests compare it with the
    registry's ``golden_sha256``)."""
    generator = torch.Generator().manual_seed(0)
    lr = torch.rand(1, in_channels, 16, 16, generator=generator)
    with torch.no_grad():
        out = net.float().cpu().eval()(lr)
    q = torch.floor(out.clamp(0, 1) * 255 + 0.5).to(torch.uint8)
    return hashlib.sha256(q.numpy().tobytes()).hexdigest()


def bundle_checkpoint(
    source: str | Path,
    name: str,
    description: str,
    extra: dict[str, Any] | None = None,
    weights_dir: Path = WEIGHTS_DIR,
) -> Path:
    """Ship a trained network as ``srlab/weights/<name>.safetensors`` and register it.

    Weights only (srlab's safetensors export: the network's tensors and its config in the header,
    no optimizer, nothing pickled); the registry entry records architecture, network config, scale,
    colour mode, sha256, the golden output digest (:func:`golden_digest`) and ``extra`` (training
    command, data, steps, wall time, hardware, measured scores…).
    """
    from srlab.checkpoints.loading import CheckpointError, load_model, target_name
    from srlab.interop.safetensors import export_safetensors

    model = load_model(source)
    if model.is_bicubic:
        raise CheckpointError("bicubic has no weights to bundle")
    weights_dir = Path(weights_dir)
    weights_dir.mkdir(parents=True, exist_ok=True)
    out = export_safetensors(model, weights_dir / f"{name}.safetensors")
    net_config = model.meta.get("net_config") or {}
    registry = bundled_weights(weights_dir)
    registry[name] = {
        "file": out.name,
        "description": description,
        "architecture": target_name(net_config.get("_target_")),
        "net_config": net_config,
        "scale": model.scale,
        "in_channels": model.in_channels,
        "colour": "Y (BT.601)" if model.in_channels == 1 else "RGB",
        "sha256": sha256_of(out),
        "golden_sha256": golden_digest(model.net, model.in_channels),
        **(extra or {}),
    }
    with open(weights_dir / REGISTRY_FILE.name, "w", encoding="utf-8") as f:
        json.dump(registry, f, indent=2, sort_keys=True)
        f.write("\n")
    return out
