"""srlab networks as plain safetensors files: ``srlab.export format=safetensors``.

The file holds the network's state dict without any prefix (``net.state_dict()``: the keys of
``conf/model``'s class, e.g. ``conv1.weight``), the ``srlab_*`` entries of
:mod:`srlab.interop.spandrel_arch` (``srlab_scale``, and ``srlab_res_scale`` for EDSR) so that
spandrel-based tools detect it from the tensors alone, and srlab's metadata in the header (all
strings):

========================  ====================================================================
``srlab.format_version``  ``1``
``srlab.architecture``    class path, e.g. ``srlab.models.srcnn.SRCNN``
``srlab.scale``           upscaling factor
``srlab.in_channels``     1 (BT.601 Y in [16/255, 235/255]) or 3 (RGB in [0, 1])
``srlab.colour``          the same in words
``srlab.net_config``      JSON of the network's Hydra config (``_target_`` + arguments), as stored
                          in srlab checkpoints under ``ckpt["srlab"]["net_config"]``
``srlab.source``          what ``ckpt=`` named
========================  ====================================================================

srlab loads such a file back by path (``ckpt=model.safetensors``) by rebuilding the class from
``srlab.net_config``: only ``srlab.models.*`` classes, called with the stored JSON arguments (no
``eval``, no pickle, no Hydra recursion). A spandrel model (``ckpt=model.pth`` of a community
architecture) exported this way keeps its own state dict (spandrel detects it as before) and gets
``srlab.foreign = spandrel`` and ``srlab.spandrel_architecture`` in the header: a ``.pth`` to
``.safetensors`` conversion.
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "FORMAT_VERSION",
    "export_safetensors",
    "is_safetensors_file",
    "load_srlab_safetensors",
    "read_header",
    "run_safetensors",
]

FORMAT_VERSION = 1
# A safetensors file starts with the header's length (u64, little endian) and the JSON header.
_MAX_HEADER = 100 * 1024 * 1024


def is_safetensors_file(path: str | Path) -> bool:
    """Whether ``path`` is a safetensors file (by content, whatever its name)."""
    try:
        with open(path, "rb") as f:
            head = f.read(9)
        size = os.path.getsize(path)
    except OSError:
        return False
    if len(head) < 9:
        return False
    (n,) = struct.unpack("<Q", head[:8])
    return 2 <= n <= min(_MAX_HEADER, size - 8) and head[8:9] == b"{"


def read_header(path: str | Path) -> dict[str, str]:
    """The ``__metadata__`` of a safetensors file (``{}`` when it has none)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return dict(f.metadata() or {})


def _is_foreign(model) -> bool:
    from srlab.interop.spandrel import SpandrelNet

    return isinstance(model.net, SpandrelNet)


def export_safetensors(model, path: str | Path) -> Path:
    """Write ``model`` (a :class:`~srlab.checkpoints.LoadedModel`) as a safetensors file.

    Raises:
        SrlabError: ``bicubic`` (no weights), an srlab model without a stored network config, or
            ``path`` being the file the model was loaded from.
    """
    from safetensors.torch import save_file

    from srlab.errors import SrlabError
    from srlab.interop.spandrel_arch import extra_entries
    from srlab.utils.files import default_file_mode

    path = Path(path)
    if model.is_bicubic:
        raise SrlabError("bicubic has no weights to export as safetensors")
    if model.path is not None and path.exists() and path.resolve() == model.path.resolve():
        raise SrlabError(
            f"output={path} is the file the model was read from; give another output= path"
        )
    colour = "Y (BT.601, [16/255, 235/255])" if model.in_channels == 1 else "RGB [0, 1]"
    metadata = {
        "srlab.format_version": str(FORMAT_VERSION),
        "srlab.scale": str(model.scale),
        "srlab.in_channels": str(model.in_channels),
        "srlab.colour": colour,
        "srlab.source": str(model.name),
    }
    if _is_foreign(model):
        net = model.net.model  # the architecture's own keys, as spandrel expects them
        metadata.update(
            {
                "srlab.foreign": "spandrel",
                "srlab.spandrel_architecture": model.net.architecture,
                "srlab.architecture": f"spandrel:{model.net.architecture}",
            }
        )
        extra: dict[str, torch.Tensor] = {}
    else:
        net_config = model.meta.get("net_config")
        if not net_config or not str(net_config.get("_target_", "")).startswith("srlab.models."):
            raise SrlabError(
                f"{model.name} has no srlab network config to store; export a checkpoint written "
                "by srlab.train"
            )
        net = model.net
        metadata["srlab.architecture"] = str(net_config["_target_"])
        metadata["srlab.net_config"] = json.dumps(net_config, sort_keys=True)
        extra = extra_entries(net)
    # Own contiguous copies: safetensors refuses tensors that share memory.
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in net.state_dict().items()}
    tensors.update(extra)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=metadata)
        os.chmod(tmp, default_file_mode())  # mkstemp's 0600 -> what any other output gets
        os.replace(tmp, path)  # complete files only
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _net_config(header: dict[str, str], source: str) -> dict[str, Any]:
    from srlab.checkpoints import CheckpointError

    try:
        config = json.loads(header["srlab.net_config"])
    except (KeyError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{source}: unreadable srlab.net_config in its header: {e}") from e
    plain = (str, int, float, bool, type(None))
    if (
        not isinstance(config, dict)
        or not isinstance(config.get("_target_"), str)
        or not all(
            isinstance(v, plain) or (isinstance(v, list) and all(isinstance(x, plain) for x in v))
            for v in config.values()
        )
    ):
        raise CheckpointError(
            f"{source}: srlab.net_config must be a flat JSON object with a _target_"
        )
    return config


def load_srlab_safetensors(
    path: Path,
    header: dict[str, str],
    name: str,
    entry: dict[str, Any] | None = None,
    scale: int | None = None,
    net_config: dict[str, Any] | None = None,
    device: str | torch.device = "cpu",
):
    """An srlab safetensors export -> :class:`~srlab.checkpoints.LoadedModel`, rebuilt from the
    header's ``srlab.net_config``.

    Raises:
        CheckpointError: a newer format, a config that is not an ``srlab.models`` class, weights
            that do not fit it, or a mismatch with ``scale`` / ``net_config``.
    """
    from safetensors.torch import load_file

    from srlab.checkpoints import CheckpointError, LoadedModel, check_compatible
    from srlab.interop.spandrel_arch import EXTRA_PREFIX, model_class

    source = str(path)
    version = header.get("srlab.format_version", "?")
    if not version.isdigit() or int(version) > FORMAT_VERSION:
        raise CheckpointError(
            f"{source} has srlab safetensors format {version}; this srlab reads up to "
            f"{FORMAT_VERSION} (update srlab)"
        )
    config = _net_config(header, source)
    meta = {
        "scale": config.get("scale"),
        "in_channels": config.get("in_channels"),
        "net_config": config,
        "format": "safetensors",
    }
    check_compatible(meta, source, scale=scale, net_config=net_config)
    try:
        cls = model_class(config["_target_"])
    except (ValueError, ImportError) as e:
        raise CheckpointError(f"{source}: {e}") from e
    try:
        net = cls(**{k: v for k, v in config.items() if k != "_target_"})
        state = load_file(str(path))
        net.load_state_dict({k: v for k, v in state.items() if not k.startswith(EXTRA_PREFIX)})
    except (TypeError, ValueError, RuntimeError) as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CheckpointError(
            f"{source}: the stored weights do not fit the stored network config: {first}"
        ) from e
    net = net.to(device).eval()
    meta.update({k: v for k, v in (entry or {}).items() if k not in meta})
    return LoadedModel(net, name, int(net.scale), int(getattr(net, "in_channels", 3)), path, meta)


def run_safetensors(path: Path, lr: torch.Tensor):
    """Run an exported safetensors file as any spandrel-based tool would: spandrel's
    ``ModelLoader`` (srlab's extension installed) on ``lr (N, C, H, W)`` float32 -> numpy ``sr``.
    Used by ``srlab.export``'s verification."""
    from spandrel import ModelLoader

    from srlab.interop import install_spandrel_extension
    from srlab.interop.spandrel import SpandrelNet

    install_spandrel_extension()
    descriptor = ModelLoader("cpu").load_from_file(str(path))
    with torch.inference_mode():
        return SpandrelNet(descriptor).eval()(lr).numpy()
