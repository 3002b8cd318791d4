"""Community SR models through spandrel, kept to srlab's model contract.

`spandrel <https://github.com/chaiNNer-org/spandrel>`_ detects the architecture of a ``.pth`` /
``.safetensors`` state dict (SwinIR, HAT, DAT, RCAN, ESRGAN/RRDB, SPAN, Compact, OmniSR, …) and
returns an ``ImageModelDescriptor``: the network plus its scale, channels, supported precisions,
input size requirements and a tiling hint. :class:`SpandrelNet` wraps it so that evaluation,
inference and export treat it like an srlab network:

* ``net(lr (B, C, h, w)) -> sr (B, C, s*h, s*w)`` with ``scale`` and ``in_channels`` attributes
  (C = 1: fed Y / grey, as srlab's Y models; C = 3: RGB);
* size requirements (minimum size, multiple of a window size, square) are met by padding the
  bottom and right edges (reflect, then replicate beyond reflect's reach, exactly as spandrel's
  own ``__call__`` does) and cropping the output back: never by resizing;
* no clamping: the scoring protocol rounds and clips the output itself.

Files are read without running pickled code: safetensors, or ``torch.load(weights_only=True)``
and spandrel's restricted unpickler (see :mod:`srlab.interop.loading`).

Tiling (``srlab.infer tile=auto tile_overlap=auto``, :func:`tiling_defaults`): srlab's own
networks keep 256-pixel tiles with their measured receptive radius as context (tiled output
equals whole-image output); spandrel models get 32 (deep CNNs and
window attention see far), 512-pixel tiles with 64 of context when the descriptor discourages
tiling (SwinIR, SCUNet: global attention across windows), and whole images when the model tiles
internally. Tile size and context are rounded up to the model's ``multiple_of`` so that every tile
starts on the model's window grid (attention windows then fall where they fall in the whole image).

Its length: the one boundary with spandrel (loading, describing, padding and tiling rules of a
foreign architecture); splitting it would spread the one place that knows spandrel's API across
modules.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "SpandrelNet",
    "describe_descriptor",
    "load_spandrel_model",
    "pad_to_requirements",
    "resolve_tiling",
    "spandrel_version",
    "tiling_defaults",
]

# Tile size / context (LR pixels) of infer's tile=auto, tile_overlap=auto; see the module doc.
# srlab's networks: 256-pixel tiles, context = their measured receptive radius (None).
SRLAB_TILING = (256, None)
SPANDREL_TILING = (256, 32)
DISCOURAGED_TILING = (512, 64)
# Purposes srlab scores and upscales (spandrel also loads denoisers, inpainting, …).
SR_PURPOSES = ("SR", "FaceSR")


def spandrel_version() -> str:
    import spandrel

    return str(spandrel.__version__)


def pad_to_requirements(
    x: torch.Tensor, minimum: int = 0, multiple_of: int = 1, square: bool = False
) -> tuple[torch.Tensor, int, int]:
    """Pad ``x (B, C, h, w)`` at the bottom/right to satisfy a spandrel ``SizeRequirements``.

    Returns ``(padded (B, C, h + pad_h, w + pad_w), pad_h, pad_w)``. Reflect padding first (a
    mirror keeps image statistics; it reaches at most ``size - 1`` pixels), then replicate for the
    rest: the same as spandrel's ``pad_tensor``, so a padded image gives spandrel's own result.
    """
    h, w = int(x.shape[-2]), int(x.shape[-1])

    def target(n: int) -> int:
        n = max(n, minimum)
        return -(-n // multiple_of) * multiple_of

    th, tw = target(h), target(w)
    if square:
        th = tw = max(th, tw)
    pad_h, pad_w = th - h, tw - w
    if pad_h or pad_w:
        rh, rw = min(pad_h, h - 1), min(pad_w, w - 1)
        if rh or rw:
            x = F.pad(x, (0, rw, 0, rh), mode="reflect")
        if pad_h - rh or pad_w - rw:
            x = F.pad(x, (0, pad_w - rw, 0, pad_h - rh), mode="replicate")
    return x, pad_h, pad_w


class SpandrelNet(nn.Module):
    """A spandrel ``ImageModelDescriptor`` with srlab's model contract.

    Shapes: ``lr (B, in_channels, h, w)`` -> ``sr (B, in_channels, scale*h, scale*w)``, any
    ``h, w >= 1`` (padded to the size requirements, output cropped back). Attributes: ``scale``,
    ``in_channels``, ``architecture`` (spandrel's id), ``supports_half``, ``supports_bfloat16``,
    ``tiling`` (``"supported"``, ``"discouraged"`` or ``"internal"``), ``minimum``,
    ``multiple_of``, ``square``.
    """

    def __init__(self, descriptor: Any) -> None:
        super().__init__()
        self.model = descriptor.model
        self.scale = int(descriptor.scale)
        self.in_channels = int(descriptor.input_channels)
        self.architecture = str(descriptor.architecture.id)
        self.architecture_name = str(descriptor.architecture.name)
        self.supports_half = bool(descriptor.supports_half)
        self.supports_bfloat16 = bool(descriptor.supports_bfloat16)
        self.tiling = descriptor.tiling.name.lower()
        req = descriptor.size_requirements
        self.minimum, self.multiple_of, self.square = (
            int(req.minimum),
            int(req.multiple_of),
            bool(req.square),
        )
        # Some architectures are not called as model(x) (e.g. a tuple output); spandrel keeps that
        # in the descriptor's private call function, which its public __call__ would also use.
        self._call: Callable[[nn.Module, torch.Tensor], torch.Tensor] = getattr(
            descriptor, "_call_fn", None
        ) or (lambda model, image: model(image))

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        h, w = lr.shape[-2:]
        x, pad_h, pad_w = pad_to_requirements(lr, self.minimum, self.multiple_of, self.square)
        if x is lr:  # some architectures (RCAN) scale their input in place: keep the caller's
            x = lr.clone()
        sr = self._call(self.model, x)
        if pad_h or pad_w:  # only then: a crop would freeze the size in a traced (exported) graph
            sr = sr[..., : h * self.scale, : w * self.scale]
        return sr

    def extra_repr(self) -> str:
        return (
            f"architecture={self.architecture}, scale={self.scale}, "
            f"in_channels={self.in_channels}, multiple_of={self.multiple_of}, "
            f"minimum={self.minimum}, square={self.square}, tiling={self.tiling}"
        )


def describe_descriptor(descriptor: Any) -> dict[str, Any]:
    """What srlab records about a spandrel model (``LoadedModel.meta["spandrel"]``)."""
    req = descriptor.size_requirements
    return {
        "architecture": str(descriptor.architecture.id),
        "name": str(descriptor.architecture.name),
        "tags": [str(t) for t in descriptor.tags],
        "purpose": str(descriptor.purpose),
        "scale": int(descriptor.scale),
        "input_channels": int(descriptor.input_channels),
        "output_channels": int(descriptor.output_channels),
        "size_requirements": {
            "minimum": int(req.minimum),
            "multiple_of": int(req.multiple_of),
            "square": bool(req.square),
        },
        "tiling": descriptor.tiling.name.lower(),
        "supports_half": bool(descriptor.supports_half),
        "supports_bfloat16": bool(descriptor.supports_bfloat16),
        "spandrel_version": spandrel_version(),
    }


def _registry():
    """spandrel's main registry with srlab's extension installed (srlab files whose header was
    lost are still recognised)."""
    from spandrel import MAIN_REGISTRY

    from srlab.interop import install_spandrel_extension

    install_spandrel_extension(MAIN_REGISTRY)
    return MAIN_REGISTRY


def load_spandrel_model(
    state_dict: dict[str, Any],
    path: Path,
    name: str,
    entry: dict[str, Any] | None = None,
    scale: int | None = None,
    net_config: dict[str, Any] | None = None,
    device: str | torch.device = "cpu",
    not_srlab: str = "not an srlab checkpoint",
    file_format: str = "pth",
):
    """A state dict (already read safely) -> :class:`~srlab.checkpoints.LoadedModel` via spandrel.

    An srlab architecture (srlab's extension) gives the srlab network itself; any other gives a
    :class:`SpandrelNet`. ``not_srlab`` says why srlab's own loaders passed (for the message).

    Raises:
        CheckpointError: spandrel recognises no architecture (one line naming the file and what
            was tried), the detected model cannot be built, is not a 1- or 3-channel
            super-resolution model, or does not match ``scale`` / ``net_config``.
    """
    from spandrel import ImageModelDescriptor, canonicalize_state_dict

    from srlab.checkpoints import CheckpointError, LoadedModel, check_compatible
    from srlab.interop.spandrel_arch import ID_PREFIX, SrlabArch

    registry = _registry()
    state_dict = canonicalize_state_dict(dict(state_dict))

    def detects(support) -> bool:
        try:  # a detector reading shapes may trip over an unusual dict: not that architecture
            return bool(support.detect(state_dict))
        except Exception:
            return False

    support = next((a for a in registry.architectures("detection") if detects(a)), None)
    if support is None:
        raise CheckpointError(
            f"cannot load ckpt={path}: {not_srlab}, and spandrel {spandrel_version()} recognises "
            f"no architecture in it (tried: srlab .ckpt, srlab safetensors header, spandrel's "
            f"{len(registry)} architectures)"
        )
    arch_id = support.architecture.id
    try:
        descriptor = support.architecture.load(state_dict)
    except Exception as e:  # spandrel's loaders raise anything from KeyError to RuntimeError
        first = str(e).splitlines()[0] if str(e) else ""
        raise CheckpointError(
            f"cannot load ckpt={path}: spandrel {spandrel_version()} detects {arch_id} but cannot "
            f"build it: {type(e).__name__}: {first}"
        ) from e
    if not isinstance(descriptor, ImageModelDescriptor) or descriptor.purpose not in SR_PURPOSES:
        raise CheckpointError(
            f"cannot use ckpt={path}: spandrel loads it as {arch_id} ({descriptor.purpose}, "
            f"x{descriptor.scale}), not a super-resolution model"
        )
    channels = (int(descriptor.input_channels), int(descriptor.output_channels))
    if channels not in ((1, 1), (3, 3)):
        raise CheckpointError(
            f"cannot use ckpt={path}: {arch_id} maps {channels[0]} to {channels[1]} channels; "
            "srlab runs 1-channel (Y / grey) and 3-channel (RGB) models"
        )
    info = describe_descriptor(descriptor)
    source = str(path)
    if arch_id.startswith(ID_PREFIX) and isinstance(support.architecture, SrlabArch):
        # srlab's own network (a safetensors export whose header was lost): native, not foreign.
        arch = support.architecture
        config = {"_target_": arch.target, **(arch.config(state_dict) or {})}
        meta = {"scale": descriptor.scale, "in_channels": descriptor.input_channels}
        meta.update({"net_config": config, "format": file_format, "spandrel": info})
        check_compatible(meta, source, scale=scale, net_config=net_config)
        net = descriptor.model.to(device).eval()
    else:
        label = f"{descriptor.architecture.name} (spandrel)"
        meta = {
            "scale": descriptor.scale,
            "in_channels": descriptor.input_channels,
            # Not importable on purpose (":"): names the architecture in check_compatible's
            # messages; srlab never instantiates a foreign model from a config.
            "net_config": {"_target_": f"spandrel:{arch_id}"},
            "foreign": "spandrel",
            "format": file_format,
            "spandrel": info,
            "arch_label": label,
            "label": f"{arch_id} x{descriptor.scale} (spandrel: {path.stem})",
        }
        check_compatible(meta, source, scale=scale, net_config=net_config)
        net = SpandrelNet(descriptor).to(device).eval()
    meta.update({k: v for k, v in (entry or {}).items() if k not in meta})
    return LoadedModel(net, name, int(descriptor.scale), int(descriptor.input_channels), path, meta)


def tiling_defaults(net: nn.Module | None) -> tuple[int, int | None]:
    """``(tile, overlap)`` in LR pixels for ``tile=auto`` / ``tile_overlap=auto``; tile 0 = whole
    image. See the module doc for the rules."""
    if not isinstance(net, SpandrelNet):
        return SRLAB_TILING
    if net.tiling == "internal":
        return 0, 0
    tile, overlap = DISCOURAGED_TILING if net.tiling == "discouraged" else SPANDREL_TILING
    m = max(1, net.multiple_of)
    tile = max(-(-tile // m) * m, net.minimum)
    overlap = -(-overlap // m) * m
    return tile, overlap


def resolve_tiling(net: nn.Module | None, tile: Any, overlap: Any) -> tuple[int | None, int | None]:
    """``tile=`` / ``tile_overlap=`` values (``auto``, ``None`` or a number) -> ``(tile or None
    for whole images, overlap)``; an overlap of ``None`` means "measure the network's receptive
    radius" (:func:`srlab.inference.tiling.receptive_radius`, srlab's own networks).

    Raises:
        ConfigError: a negative or non-integer value.
    """
    from srlab.errors import ConfigError

    auto_tile, auto_overlap = tiling_defaults(net)
    values = []
    for key, value, auto in (("tile", tile, auto_tile), ("tile_overlap", overlap, auto_overlap)):
        if value is None and key == "tile":
            values.append(0)  # tile=null: whole images, as before
            continue
        if value is None or str(value).lower() == "auto":
            values.append(auto)
            continue
        if isinstance(value, bool):
            raise ConfigError(f"{key} must be auto or an integer >= 0, got {value!r}")
        try:
            number = int(value)
        except (TypeError, ValueError):
            number = -1
        if number < 0 or str(number) != str(value).strip():
            raise ConfigError(f"{key} must be auto or an integer >= 0, got {value!r}")
        values.append(number)
    return (values[0] or None), values[1]
