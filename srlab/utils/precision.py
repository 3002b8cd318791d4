"""Full float32 for the protocol's arithmetic, whatever the trainer's precision settings.

``matmul_precision: high`` (TF32 on NVIDIA GPUs), ``medium`` (bfloat16 products, also on CPUs with
AMX/AVX512-BF16 through oneDNN), cuDNN's TF32 convolutions (on by default in PyTorch) and autocast
all trade mantissa bits for speed: fine for training, wrong for the MATLAB bicubic that makes LR
images and baselines, and for scores, where an error of 1/255 changes the result. TF32 keeps 10
mantissa bits and bfloat16 7, so a product of [0, 1] pixels can be off by several 1/255 steps.

:func:`full_float32` turns all of them off for a block and restores them after: the bicubic
(:func:`srlab.degradations.resize.imresize`, :mod:`srlab.degradations.bicubic_conv`) and the scoring
path (:mod:`srlab.protocol.scoring`) run inside it, so the same weights give the same LR images and
scores under ``32-true``, ``bf16-mixed`` or ``16-mixed`` and any ``matmul_precision``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import torch

__all__ = ["full_float32"]

# Per thread: device type -> nesting depth of open full_float32 blocks (the flags are global,
# but a block's exit restores them for its own thread's caller).
_local = threading.local()


def _depths() -> dict[str, int]:
    depths = getattr(_local, "depths", None)
    if depths is None:
        depths = _local.depths = {}
    return depths


# PyTorch >= 2.9: one fp32_precision flag per backend and operation ("ieee" = full float32).
_FLAG_OWNERS = (("cuda", "matmul"), ("cudnn", "conv"), ("mkldnn", "matmul"), ("mkldnn", "conv"))


def _precision_flags() -> list:
    """The backends' ``fp32_precision`` holders of this PyTorch (empty before 2.9)."""
    owners = []
    for backend, op in _FLAG_OWNERS:
        owner = getattr(getattr(torch.backends, backend, None), op, None)
        if owner is not None and hasattr(owner, "fp32_precision"):
            owners.append(owner)
    return owners


def _autocast_on(device_type: str) -> bool:
    """Whether autocast is on for ``device_type`` (True when torch cannot say: assume the worst)."""
    try:
        return bool(torch.is_autocast_enabled(device_type))
    except (RuntimeError, TypeError):
        return True


def _autocast_off(device_type: str):
    available = getattr(torch.amp, "is_autocast_available", None)
    if available is not None and not available(device_type):
        return torch.autocast("cpu", enabled=False)  # e.g. "meta": nothing to turn off there
    return torch.autocast(device_type, enabled=False)


@contextmanager
def full_float32(device_type: str = "cpu") -> Iterator[None]:
    """Inside: float32 matrix products and convolutions in full precision, autocast off.

    Args:
        device_type: the device type the block computes on (``"cpu"``, ``"cuda"``); autocast is
            disabled for it.

    The global flags are set back on exit (training keeps its TF32/bf16 speed elsewhere). While
    ``torch.compile`` traces, only autocast is switched off (setting global flags would break the
    graph); compiled training code is not the protocol path.
    """
    compiling = getattr(torch.compiler, "is_compiling", lambda: False)()
    if compiling:
        with _autocast_off(device_type):
            yield
        return
    depths = _depths()
    if depths.get(device_type) and not _autocast_on(device_type):
        # Nested inside another full_float32 block for this device (e.g. imresize inside the
        # DataModule's degradation): the flags are already set; setting and restoring them
        # again costs ~40 µs per call, a visible share of a CPU training step's data path.
        yield
        return
    owners = _precision_flags()
    if owners:
        saved = [owner.fp32_precision for owner in owners]
        for owner in owners:
            owner.fp32_precision = "ieee"
    else:  # PyTorch < 2.9: the legacy switches
        saved = [torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32]
        torch.set_float32_matmul_precision("highest")
        torch.backends.cudnn.allow_tf32 = False
    depth = depths.get(device_type, 0)
    depths[device_type] = depth + 1
    try:
        with _autocast_off(device_type):
            yield
    finally:
        depths[device_type] = depth
        if owners:
            for owner, value in zip(owners, saved, strict=True):
                owner.fp32_precision = value
        else:
            torch.set_float32_matmul_precision(saved[0])
            torch.backends.cudnn.allow_tf32 = saved[1]
