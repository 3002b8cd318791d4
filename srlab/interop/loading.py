"""``ckpt=`` for files that are not srlab ``.ckpt`` checkpoints (called by
:func:`srlab.checkpoints.load_model` before it reads a checkpoint).

In order, for a file:

1. a safetensors file (recognised by content) with srlab's header (``srlab.net_config``):
   rebuilt by srlab (:func:`srlab.interop.safetensors.load_srlab_safetensors`);
2. any other safetensors file: its tensors go to spandrel;
3. a pickle (``.pth``, ``.pt``, ``.ckpt``, ``.bin``, …) read by ``torch.load(weights_only=True)``;
   when that refuses a global, by spandrel's restricted unpickler (tensors and ordered dicts
   only; some community files need ``typing.OrderedDict``). Neither runs code from the file; a
   file both refuse is refused in one line naming the global it asked for. An srlab checkpoint
   (``state_dict`` plus ``srlab`` metadata or a stored ``net_config``) is left to srlab
   (:func:`load_other_model` returns ``None``); any other dict goes to spandrel.

TorchScript archives and unreadable files are left to srlab's own reader, whose message names the
file and the error.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Any

import torch

__all__ = ["is_srlab_checkpoint", "load_other_model", "read_pickle"]


class RefusedPickle(Exception):
    """Both restricted unpicklers refused the file (or could not parse it)."""


def _global_named(message: str) -> str | None:
    """The forbidden global in torch's (``GLOBAL mod.name``) or spandrel's (``Global 'mod.name'``)
    unpickling error."""
    m = re.search(r"GLOBAL ([\w.]+)", message) or re.search(r"Global '([\w.]+)'", message)
    return m.group(1) if m else None


def read_pickle(path: Path) -> Any | None:
    """Unpickle ``path`` without running code from it; ``None`` when it is not a readable torch
    file (srlab's reader then reports why).

    Raises:
        RefusedPickle: both ``torch.load(weights_only=True)`` and spandrel's restricted unpickler
            refused it; the message is one line.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError:
        return None
    if not head.startswith((b"PK\x03\x04", b"\x80")):
        return None  # neither torch.save's zip archive nor a pickle: srlab's reader says so
    try:
        try:  # mmap: only the pickle is read now; tensors are paged in if used
            return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as e:
            if "mmap" not in str(e):
                raise
            return torch.load(path, map_location="cpu", weights_only=True)  # pre-zip format
    except pickle.UnpicklingError as first:
        refused = first
    except Exception:  # not a torch file, truncated zip, TorchScript archive, …
        return None
    from spandrel.__helpers.unpickler import RestrictedUnpickle

    try:
        # weights_only=False only because torch refuses pickle_module with weights_only=True; the
        # unpickler is spandrel's allow-list (OrderedDict, tensor rebuilding, storages).
        return torch.load(
            path, map_location="cpu", pickle_module=RestrictedUnpickle, weights_only=False
        )
    except Exception as second:
        name = _global_named(str(refused)) or _global_named(str(second))
        if name:
            raise RefusedPickle(
                f"refused to unpickle it: it needs {name}, which neither "
                "torch.load(weights_only=True) nor spandrel's restricted unpickler allows "
                "(no code from a checkpoint is ever run)"
            ) from second
        from srlab.checkpoints.loading import _unreadable

        raise RefusedPickle(
            "cannot read it with torch.load(weights_only=True) or spandrel's restricted "
            f"unpickler: {_unreadable(Path(path), refused)}"
        ) from second


def is_srlab_checkpoint(obj: Any) -> bool:
    """Whether an unpickled object has srlab's checkpoint layout (``state_dict`` + metadata)."""
    if not isinstance(obj, dict) or not isinstance(obj.get("state_dict"), dict):
        return False
    hparams = obj.get("hyper_parameters")
    return "srlab" in obj or (isinstance(hparams, dict) and "net_config" in hparams)


def load_other_model(
    path: str | Path,
    name: str,
    entry: dict[str, Any] | None = None,
    scale: int | None = None,
    net_config: dict[str, Any] | None = None,
    device: str | torch.device = "cpu",
):
    """Load ``path`` when it is not an srlab ``.ckpt`` (see the module doc), else ``None``.

    Returns:
        A :class:`~srlab.checkpoints.LoadedModel`, or ``None`` for srlab's own reader.

    Raises:
        CheckpointError: the file is refused, not recognised, or does not match ``scale`` /
            ``net_config``; one line naming the file.
    """
    from srlab.checkpoints import CheckpointError
    from srlab.interop.safetensors import is_safetensors_file, load_srlab_safetensors, read_header
    from srlab.interop.spandrel import load_spandrel_model

    path = Path(path)
    common = dict(entry=entry, scale=scale, net_config=net_config, device=device)
    if is_safetensors_file(path):
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            header = read_header(path)
            if "srlab.net_config" in header:
                return load_srlab_safetensors(path, header, name, **common)
            state = load_file(str(path))
        except (SafetensorError, OSError) as e:
            raise CheckpointError(f"cannot read ckpt={path} as safetensors: {e}") from e
        why = (
            "a spandrel model exported by srlab"
            if header.get("srlab.foreign")
            else "a safetensors file without srlab's header"
        )
        return load_spandrel_model(
            state, path, name, not_srlab=why, file_format="safetensors", **common
        )
    try:
        obj = read_pickle(path)
    except RefusedPickle as e:
        raise CheckpointError(f"cannot load ckpt={path}: {e}") from None
    if obj is None or is_srlab_checkpoint(obj):
        return None
    if not isinstance(obj, dict) or not obj:
        raise CheckpointError(
            f"cannot load ckpt={path}: it holds {type(obj).__name__ if obj else 'nothing'}, "
            "not a state dict (srlab checkpoints and spandrel models are dicts of tensors)"
        )
    why = "not an srlab checkpoint" + (
        " (it stores no network config)" if "state_dict" in obj else ""
    )
    suffix = path.suffix.lstrip(".").lower() or "pickle"
    return load_spandrel_model(obj, path, name, not_srlab=why, file_format=suffix, **common)
