"""Finding and loading trained models: ``ckpt=`` as a file, a run directory, a bundled name or
``bicubic``.

* a ``.ckpt`` file written by ``srlab.train`` (or any file with srlab's checkpoint layout);
* a run directory (``experiments/<name>/<timestamp>``): its ``checkpoints/best.ckpt``, else
  ``checkpoints/last.ckpt``;
* a bundled name: a small checkpoint shipped in ``srlab/weights/`` and listed in
  ``srlab/weights/registry.json`` with its metadata (see :func:`bundled_weights`);
* ``bicubic``: the protocol's MATLAB-style bicubic (no weights), the baseline of every table.

Checkpoints are always read with ``torch.load(weights_only=True)`` (no code runs on load) and the
network is rebuilt from the ``net_config`` stored in it (:func:`net_from_checkpoint`),
so nothing of the training set-up needs to be around. A checkpoint that does not match what the
caller asked for (another scale, another architecture) raises a :class:`~srlab.errors.SrlabError`
that says so, before any weights are copied.

Its length: every way `ckpt=` is resolved and checked (file, run directory, bundled name, bicubic;
scale/architecture mismatch; one-line errors for unreadable files) lives here so that every command
behaves the same.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from srlab.checkpoints.bundled import BICUBIC, WEIGHTS_DIR, bundled_weights, sha256_of, valid_names
from srlab.errors import SrlabError

log = logging.getLogger(__name__)

# Checked in this order inside a run directory (the train config's ModelCheckpoint names).
RUN_DIR_CANDIDATES = ("checkpoints/best.ckpt", "checkpoints/last.ckpt", "best.ckpt", "last.ckpt")


class CheckpointError(SrlabError):
    """A checkpoint cannot be found, read, or does not match the requested model."""


def net_from_checkpoint(ckpt: dict[str, Any], source: str = "checkpoint") -> nn.Module:
    """The network of a loaded srlab checkpoint dict, rebuilt from its stored ``net_config``.

    The weights (``state_dict`` entries under ``net.``) are loaded strictly; eval mode.
    """
    from hydra.utils import instantiate

    net_config = checkpoint_meta(ckpt).get("net_config")
    if not net_config:
        raise CheckpointError(f"{source}: not an srlab checkpoint (no network config stored)")
    net = instantiate(net_config)
    state = {k[len("net.") :]: v for k, v in ckpt["state_dict"].items() if k.startswith("net.")}
    net.load_state_dict(state)
    return net.eval()


@dataclass
class LoadedModel:
    """A network ready for inference plus where it came from.

    Attributes:
        net: the network in eval mode, on the requested device (``net(lr) -> sr``).
        name: what the user asked for, resolved (a path, a bundled name or ``bicubic``).
        scale: upscaling factor of ``net``.
        in_channels: colour mode of ``net`` (1 = Y of BT.601 YCbCr, 3 = RGB).
        path: the checkpoint file; ``None`` for ``bicubic``.
        meta: the checkpoint's ``srlab`` metadata (plus the registry entry of a bundled name).
    """

    net: nn.Module
    name: str
    scale: int
    in_channels: int
    path: Path | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def is_bicubic(self) -> bool:
        return self.path is None

    def describe(self) -> str:
        colour = "Y" if self.in_channels == 1 else "RGB"
        arch = self.meta.get("arch_label") or type(self.net).__name__  # e.g. "SwinIR (spandrel)"
        where = f" from {self.path}" if self.path is not None else ""
        return f"{arch} x{self.scale} ({colour}){where}"


# ---------------------------------------------------------------------------- resolution
def _from_run_dir(folder: Path) -> Path:
    for rel in RUN_DIR_CANDIDATES:
        if (folder / rel).is_file():
            return folder / rel
    runs = sorted(
        p.parent.parent
        for p in folder.glob("*/checkpoints/*.ckpt")
        if p.name in ("best.ckpt", "last.ckpt")
    )
    runs = sorted(set(runs))
    if len(runs) == 1:
        return _from_run_dir(runs[0])
    if runs:
        listing = "\n  ".join(str(r) for r in runs[-10:])
        raise CheckpointError(
            f"{folder} holds {len(runs)} runs; pass one of them as ckpt= (latest last):\n  {listing}"
        )
    raise CheckpointError(
        f"no checkpoint in run directory {folder}: expected "
        + " or ".join(str(folder / r) for r in RUN_DIR_CANDIDATES[:2])
    )


def resolve_checkpoint(
    spec: str | Path, scale: int | None = None
) -> tuple[str, Path | None, dict[str, Any]]:
    """``ckpt=`` value -> ``(name, checkpoint file or None for bicubic, registry entry or {})``.

    A bundled model family without its scale (``srcnn`` for ``srcnn_x2``/``srcnn_x3``/
    ``srcnn_x4``) picks the member of the requested ``scale``.

    Raises:
        CheckpointError: a path that does not exist, a run directory without a checkpoint, an
            unknown name (the message lists the valid names), or a family without ``scale``.
    """
    text = str(spec).strip()
    if text.lower() == BICUBIC:
        return BICUBIC, None, {}
    path = Path(text).expanduser()
    if path.is_file():
        return str(path), path, {}
    if path.is_dir():
        found = _from_run_dir(path)
        log.info("ckpt=%s -> %s", text, found)
        return str(found), found, {}
    registry = bundled_weights()
    family = {int(e["scale"]): n for n, e in registry.items() if e.get("family") == text}
    if family and text not in registry:
        if scale is None or int(scale) not in family:
            scales = ", ".join(f"scale={s}" for s in sorted(family))
            asked = f"scale={scale} is not one of them" if scale is not None else "give scale="
            raise CheckpointError(
                f"ckpt={text} is a family of bundled models ({', '.join(family.values())}): "
                f"{asked} ({scales})"
            )
        text = family[int(scale)]
    if text in registry:
        entry = dict(registry[text])
        file = WEIGHTS_DIR / entry["file"]
        if not file.is_file():
            raise CheckpointError(
                f"bundled checkpoint {text!r} is registered but {file} is missing"
            )
        return text, file, entry
    looks_like_path = any(sep in text for sep in ("/", "\\")) or path.suffix in (
        ".ckpt",
        ".pt",
        ".pth",
        ".safetensors",
    )
    if looks_like_path:
        raise CheckpointError(f"checkpoint not found: {path}")
    raise CheckpointError(
        f"unknown checkpoint {text!r}: not a file, not a run directory, not a bundled name. "
        f"Valid names: {', '.join(valid_names())} (or a .ckpt path / run directory)."
    )


def _unreadable(path: Path, error: BaseException) -> str:
    """Why ``torch.load(path, weights_only=True)`` failed, in words a user can act on (never the
    advice to load with ``weights_only=False``: that runs code from the file)."""
    import pickle
    import zipfile

    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError as e:
        return f"cannot open it ({e.strerror or e})"
    if size == 0:
        return "the file is empty (0 bytes)"
    if head.startswith(b"PK\x03\x04") and not zipfile.is_zipfile(path):
        # torch.save writes a zip archive whose directory comes last: a cut-off copy lacks it.
        return (
            f"the file is truncated or corrupt ({size:,} bytes, the end of its zip archive is "
            "missing: an interrupted copy, download or save?)"
        )
    if not head.startswith((b"PK\x03\x04", b"\x80")):
        return "not a PyTorch checkpoint (neither a torch.save zip archive nor a pickle)"
    if isinstance(error, pickle.UnpicklingError) and "weights only" in str(error).lower():
        from srlab.interop.loading import _global_named

        name = _global_named(str(error))
        needs = f"it needs {name}, which" if name else "it holds objects that"
        return (
            f"{needs} srlab does not unpickle (checkpoints are read with "
            "torch.load(weights_only=True); no code from a file is ever run), so it was not "
            "written by srlab.train"
        )
    return f"not a readable PyTorch checkpoint ({type(error).__name__})"


def read_checkpoint(
    path: str | Path, map_location: str | torch.device = "cpu", mmap: bool = False
) -> dict[str, Any]:
    """``torch.load(path, weights_only=True)`` with one-line errors a user can act on.

    Args:
        path: the ``.ckpt`` file.
        map_location: where tensors go.
        mmap: memory-map the tensors (only the pickle is read now; for metadata look-ups).

    Raises:
        CheckpointError: a missing, empty, truncated or foreign file, or one whose pickle needs
            more than tensors and plain values; the message names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        try:
            ckpt = torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
        except RuntimeError as e:
            if not mmap or "mmap" not in str(e):
                raise
            # torch's legacy (pre-zip) format cannot be memory-mapped: read it whole.
            ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # unpickling, zip, or weights_only allow-list failures
        raise CheckpointError(f"cannot read checkpoint {path}: {_unreadable(path, e)}") from e
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise CheckpointError(
            f"{path} is not an srlab checkpoint (no 'state_dict'; srlab.train writes .ckpt "
            "files with the weights, optimizer state and srlab's metadata)"
        )
    return ckpt


def checkpoint_meta(ckpt: dict[str, Any]) -> dict[str, Any]:
    """The ``srlab`` block of a checkpoint, with ``scale``/``in_channels`` filled from ``net_config``."""
    meta = dict(ckpt.get("srlab") or {})
    net_config = meta.get("net_config") or (ckpt.get("hyper_parameters") or {}).get("net_config")
    meta["net_config"] = net_config
    if net_config:
        meta.setdefault("scale", net_config.get("scale"))
        meta.setdefault("in_channels", net_config.get("in_channels"))
    return meta


def target_name(target: str | None) -> str:
    return (target or "?").rsplit(".", 1)[-1]


def mismatches(
    meta: dict[str, Any], scale: int | None, net_config: dict[str, Any] | None
) -> list[str]:
    """How a checkpoint differs from a configured model, one phrase per difference (empty when it
    is that model): its scale, its network class, its architecture keys (keys one side lacks are
    not compared)."""
    stored = meta.get("net_config") or {}
    have = target_name(stored.get("_target_"))
    out = []
    ckpt_scale = meta.get("scale")
    if scale is not None and ckpt_scale is not None and int(scale) != int(ckpt_scale):
        out.append(f"it holds a x{ckpt_scale} {have} model, the config asks for x{scale}")
    if not net_config:
        return out
    want_target, have_target = net_config.get("_target_"), stored.get("_target_")
    if want_target and have_target and want_target != have_target:
        out.append(f"it holds a {have} network, the config asks for {target_name(want_target)}")
        return out
    diffs = [
        f"{k}={stored[k]!r} (config: {v!r})"
        for k, v in net_config.items()
        if k not in ("_target_", "scale") and k in stored and stored[k] != v
    ]
    if diffs:
        out.append(f"its {have} has {', '.join(diffs)}")
    return out


def check_compatible(
    meta: dict[str, Any],
    source: str,
    scale: int | None = None,
    net_config: dict[str, Any] | None = None,
) -> None:
    """Raise :class:`CheckpointError` when a checkpoint is not the model that was asked for.

    Args:
        meta: :func:`checkpoint_meta` of the checkpoint.
        source: how to name the checkpoint in messages.
        scale: requested upscaling factor (``None`` = take the checkpoint's).
        net_config: requested network config (e.g. the ``model.net`` group of a config); its
            ``_target_`` and every architecture key must equal the stored ones (``scale`` is checked
            separately, keys the checkpoint lacks are ignored).
    """
    stored = meta.get("net_config") or {}
    ckpt_scale = meta.get("scale")
    if scale is not None and ckpt_scale is not None and int(scale) != int(ckpt_scale):
        raise CheckpointError(
            f"{source} holds a x{ckpt_scale} {target_name(stored.get('_target_'))} model, "
            f"but scale={scale} was requested; pass a x{scale} checkpoint or drop scale= "
            "(the checkpoint's scale is used by default)."
        )
    if not net_config:
        return
    want_target, have_target = net_config.get("_target_"), stored.get("_target_")
    if want_target and have_target and want_target != have_target:
        raise CheckpointError(
            f"{source} holds a {target_name(have_target)} network, but the requested model is "
            f"{target_name(want_target)}; drop model= to use the checkpoint's own architecture."
        )
    diffs = [
        f"{k}={stored[k]!r} (requested {v!r})"
        for k, v in net_config.items()
        if k not in ("_target_", "scale") and k in stored and stored[k] != v
    ]
    if diffs:
        raise CheckpointError(
            f"{source} does not match the requested {target_name(want_target)} architecture: "
            f"checkpoint has {', '.join(diffs)}."
        )


def load_model(
    spec: str | Path,
    scale: int | None = None,
    net_config: dict[str, Any] | None = None,
    device: str | torch.device = "cpu",
    bicubic_channels: int = 3,
) -> LoadedModel:
    """Load what ``ckpt=`` names as a ready network (eval mode, on ``device``).

    Args:
        spec: a ``.ckpt`` path, a run directory, a bundled name, or ``bicubic``; also a
            ``.safetensors`` export or any file spandrel loads (:mod:`srlab.interop.loading`).
        scale: requested factor; required for ``bicubic``, checked against a checkpoint.
        net_config: requested architecture, checked against the checkpoint (optional).
        device: where the network goes.
        bicubic_channels: colour mode of the bicubic model (3 = RGB; bicubic is per channel).

    Raises:
        CheckpointError: see :func:`resolve_checkpoint` and :func:`check_compatible`.
    """
    from srlab.models.bicubic import Bicubic

    name, path, entry = resolve_checkpoint(spec, scale)
    if path is None:
        if scale is None:
            raise CheckpointError(
                "ckpt=bicubic has no scale of its own: pass scale=N (e.g. scale=3)"
            )
        net = Bicubic(scale=int(scale), in_channels=bicubic_channels).eval().to(device)
        return LoadedModel(net, BICUBIC, int(scale), bicubic_channels, None, {"bicubic": True})
    if entry.get("sha256") and sha256_of(path) != entry["sha256"]:
        raise CheckpointError(f"bundled checkpoint {name!r} ({path}) fails its sha256 check")
    # safetensors files and community models (spandrel); None = an srlab .ckpt, read below.
    from srlab.interop.loading import load_other_model

    other = load_other_model(path, name, entry, scale=scale, net_config=net_config, device=device)
    if other is not None:
        return other
    ckpt = read_checkpoint(path)
    meta = checkpoint_meta(ckpt)
    if not meta.get("net_config"):
        raise CheckpointError(
            f"{path} is not an srlab checkpoint: it stores no network config (net_config); "
            "checkpoints written by srlab.train do."
        )
    check_compatible(meta, str(path), scale=scale, net_config=net_config)
    try:
        net = net_from_checkpoint(ckpt, source=str(path))
    except (RuntimeError, KeyError, ValueError) as e:
        raise CheckpointError(
            f"{path}: the stored weights do not fit the stored network config: {e}"
        ) from e
    net = net.to(device).eval()
    meta.update({k: v for k, v in entry.items() if k not in meta})
    return LoadedModel(net, name, int(net.scale), int(getattr(net, "in_channels", 3)), path, meta)
