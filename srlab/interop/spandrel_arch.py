"""srlab's architectures as a spandrel extension: spandrel-based tools load srlab's exports.

``srlab.export format=safetensors`` writes a prefix-free state dict (``net.state_dict()``) plus a
few non-weight entries, all named ``srlab_*``:

* ``srlab_scale`` (int64, shape ``(1,)``): the upscaling factor. Pre-upsampling networks (SRCNN,
  VDSR) and deconvolution ones (FSRCNN, SRCNNDeconv) do not carry it in any weight shape, and
  spandrel's loader gives detection the state dict only (never the safetensors header). It is
  also the marker of an srlab file: no detector here accepts a state dict without it, so
  spandrel's own architectures' files are never claimed.
* ``srlab_res_scale`` (float64, ``(1,)``, EDSR only): the residual scaling, not in the weights.

Each architecture is detected from the marker plus the exact key set and shapes: the
hyper-parameters are read from the weight shapes (kernel sizes, widths, depth, channels), the
network is built on the ``meta`` device with them and must have exactly the file's keys and
shapes. spandrel's ``Compact`` claims any state dict with ``body.0.weight`` and
``body.1.weight``, which FSRCNN's has (conv + PReLU), so srlab's entries are registered
``before`` every architecture already in the registry (harmless: they reject files without the
marker).

The colour mode is the weights' channel count: 1 = BT.601 Y in srlab (spandrel tools call it
grayscale; feed Y for srlab's results), 3 = RGB.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import torch
from spandrel import (
    MAIN_REGISTRY,
    Architecture,
    ArchRegistry,
    ArchSupport,
    ImageModelDescriptor,
    StateDict,
)
from torch import nn

SCALE_KEY = "srlab_scale"
RES_SCALE_KEY = "srlab_res_scale"
EXTRA_PREFIX = "srlab_"
ID_PREFIX = "srlab."

# (weights without srlab_* entries, all entries) -> the class's keyword arguments except scale.
ConfigReader = Callable[[Mapping[str, torch.Tensor], Mapping[str, Any]], dict[str, Any]]


def _count(weights: Mapping[str, torch.Tensor], pattern: str) -> int:
    """How many keys match ``pattern`` (a regex with one group for the index), e.g. ``body.N.bias``."""
    rx = re.compile(pattern)
    return len({m.group(1) for k in weights if (m := rx.fullmatch(k))})


def _srcnn(w: Mapping[str, torch.Tensor], _: Mapping[str, Any]) -> dict[str, Any]:
    c1, c2, c3 = w["conv1.weight"], w["conv2.weight"], w["conv3.weight"]
    return {
        "in_channels": c1.shape[1],
        "f1": c1.shape[-1],
        "f2": c2.shape[-1],
        "f3": c3.shape[-1],
        "n1": c1.shape[0],
        "n2": c2.shape[0],
    }


def _srcnn_deconv(w: Mapping[str, torch.Tensor], _: Mapping[str, Any]) -> dict[str, Any]:
    c1, c2, dc = w["conv1.weight"], w["conv2.weight"], w["deconv.weight"]
    return {
        "in_channels": c1.shape[1],
        "f1": c1.shape[-1],
        "f2": c2.shape[-1],
        "n1": c1.shape[0],
        "n2": c2.shape[0],
        "deconv_kernel": dc.shape[-1],
    }


def _fsrcnn(w: Mapping[str, torch.Tensor], _: Mapping[str, Any]) -> dict[str, Any]:
    # body: conv 5x5 d, PReLU, conv 1x1 s, PReLU, m x (conv 3x3 s, PReLU), conv 1x1 d, PReLU.
    convs = _count(w, r"body\.(\d+)\.bias")
    return {
        "in_channels": w["body.0.weight"].shape[1],
        "d": w["body.0.weight"].shape[0],
        "s": w["body.2.weight"].shape[0],
        "m": convs - 3,
        "deconv_kernel": w["deconv.weight"].shape[-1],
    }


def _vdsr(w: Mapping[str, torch.Tensor], _: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "in_channels": w["body.0.weight"].shape[1],
        "depth": _count(w, r"body\.(\d+)\.bias") + 1,
        "features": w["body.0.weight"].shape[0],
    }


def _edsr(w: Mapping[str, torch.Tensor], entries: Mapping[str, Any]) -> dict[str, Any]:
    res_scale = entries.get(RES_SCALE_KEY)
    return {
        "in_channels": w["head.weight"].shape[1],
        "num_blocks": _count(w, r"body\.(\d+)\.conv1\.weight"),
        "features": w["head.weight"].shape[0],
        "res_scale": 1.0 if res_scale is None else float(res_scale.reshape(-1)[0]),
        "data_mean": [float(v) for v in w["mean"].flatten()],
    }


# class path -> how to read its hyper-parameters from a state dict. A model family that srlab adds
# needs an entry here (tests/test_interop.py round-trips every conf/model config through spandrel).
READERS: dict[str, ConfigReader] = {
    "srlab.models.srcnn.SRCNN": _srcnn,
    "srlab.models.srcnn.SRCNNDeconv": _srcnn_deconv,
    "srlab.models.fsrcnn.FSRCNN": _fsrcnn,
    "srlab.models.espcn.ESPCN": _srcnn,  # same layout; conv3 has in_channels * scale^2 outputs
    "srlab.models.vdsr.VDSR": _vdsr,
    "srlab.models.edsr.EDSR": _edsr,
}


def model_class(target: str) -> type[nn.Module]:
    """The srlab network class at ``target`` (only ``srlab.models.*`` classes are resolved)."""
    import importlib

    module_name, _, cls_name = target.rpartition(".")
    if not module_name.startswith("srlab.models.") or not cls_name.isidentifier():
        raise ValueError(f"{target!r} is not an srlab.models network class")
    cls = getattr(importlib.import_module(module_name), cls_name, None)
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise ValueError(f"{target!r} is not an srlab.models network class")
    return cls


def extra_entries(net: nn.Module) -> dict[str, torch.Tensor]:
    """The ``srlab_*`` entries an exported file carries for ``net`` (see the module doc)."""
    extra = {SCALE_KEY: torch.tensor([int(net.scale)], dtype=torch.int64)}
    res_scales = {float(m.res_scale) for m in net.modules() if hasattr(m, "res_scale")}
    if len(res_scales) == 1:  # EDSR's blocks all share it
        extra[RES_SCALE_KEY] = torch.tensor([res_scales.pop()], dtype=torch.float64)
    return extra


class SrlabArch(Architecture[nn.Module]):
    """One srlab network class as a spandrel :class:`~spandrel.Architecture`.

    ``detect`` accepts a state dict with the ``srlab_scale`` marker whose keys and shapes are
    exactly those of the class built with the hyper-parameters read from the shapes; ``load``
    builds it and returns an :class:`~spandrel.ImageModelDescriptor` (``SR``, scale from the
    marker, 1 or 3 channels, float16/bfloat16 supported, no size requirements, tiling supported).
    """

    def __init__(self, target: str, reader: ConfigReader) -> None:
        self.target = target
        self.class_name = target.rsplit(".", 1)[-1]
        self._reader = reader
        super().__init__(
            id=ID_PREFIX + self.class_name,
            name=f"{self.class_name} (srlab)",
            detect=self._detect,
        )

    def config(self, state_dict: Mapping[str, Any]) -> dict[str, Any] | None:
        """The class's keyword arguments for ``state_dict``, or ``None`` when it is not one."""
        scale = state_dict.get(SCALE_KEY)
        if not isinstance(scale, torch.Tensor) or scale.numel() != 1:
            return None
        weights = {k: v for k, v in state_dict.items() if not k.startswith(EXTRA_PREFIX)}
        try:
            config = {"scale": int(scale.reshape(-1)[0]), **self._reader(weights, state_dict)}
            with torch.device("meta"):  # shapes only: nothing allocated, nothing initialised
                probe = model_class(self.target)(**config)
        except (KeyError, IndexError, AttributeError, ValueError, TypeError, RuntimeError):
            return None  # detection never raises: not this architecture
        expected = {k: tuple(v.shape) for k, v in probe.state_dict().items()}
        got = {k: tuple(v.shape) for k, v in weights.items() if isinstance(v, torch.Tensor)}
        return config if expected == got and len(got) == len(weights) else None

    def _detect(self, state_dict: StateDict) -> bool:
        return self.config(state_dict) is not None

    def load(self, state_dict: StateDict) -> ImageModelDescriptor[nn.Module]:
        config = self.config(state_dict)
        if config is None:
            raise ValueError(f"not an srlab {self.class_name} state dict")
        net = model_class(self.target)(**config).eval()
        weights = {k: v for k, v in state_dict.items() if not k.startswith(EXTRA_PREFIX)}
        channels = int(config["in_channels"])
        tags = [f"x{config['scale']}", "Y" if channels == 1 else "RGB"]
        tags += [
            f"{k}={v}" for k, v in config.items() if k not in ("scale", "in_channels", "data_mean")
        ]
        return ImageModelDescriptor(
            net,
            weights,  # ModelBase loads them (strict)
            architecture=self,
            purpose="SR",
            tags=tags,
            supports_half=True,
            supports_bfloat16=True,
            scale=int(config["scale"]),
            input_channels=channels,
            output_channels=channels,
        )


ARCHITECTURES: tuple[SrlabArch, ...] = tuple(SrlabArch(t, r) for t, r in READERS.items())


def install(registry: ArchRegistry | None = None) -> list[ArchSupport]:
    """Add :data:`ARCHITECTURES` to ``registry`` (default ``spandrel.MAIN_REGISTRY``), detected
    before every architecture already there; idempotent. Returns the entries added."""
    registry = MAIN_REGISTRY if registry is None else registry
    others = tuple(
        a.architecture.id
        for a in registry.architectures()
        if not a.architecture.id.startswith(ID_PREFIX)
    )
    supports = [ArchSupport(arch, arch.detect, before=others) for arch in ARCHITECTURES]
    return registry.add(*supports, ignore_duplicates=True)
