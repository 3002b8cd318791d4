"""Exporting a network to ONNX, TorchScript or safetensors, and checking the exported file
against PyTorch. ``safetensors`` holds the weights with srlab's metadata
(:mod:`srlab.interop.safetensors`) and is verified by loading it through spandrel's ``ModelLoader``
with srlab's extension installed.

The exported graph is the network itself, ``lr (N, C, H, W) -> sr (N, C, s*H, s*W)`` float32 in
the model's colour space (C = 1: BT.601 Y in [16/255, 235/255] for Y models, see
:mod:`srlab.protocol.colour`; C = 3: RGB in [0, 1]). Batch, height and width are dynamic.

Pre-upsampling models (SRCNN) call :func:`srlab.degradations.resize.imresize`, whose index tables
are computed in Python from the input size; while tracing, ``imresize`` switches to the equivalent
convolution + pixel-shuffle form (:mod:`srlab.degradations.bicubic_conv`), so no input size is
baked into the graph. :func:`verify_export` reloads the file and runs it (onnxruntime on CPU, or
the TorchScript module) on two input sizes other than the traced one, so a graph that silently
froze a size fails loudly.

ONNX uses PyTorch's TorchScript-based exporter (``dynamo=False``): the torch.export-based one needs
the optional ``onnxscript`` package.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

from srlab.errors import SrlabError

FORMATS = {"onnx": ".onnx", "torchscript": ".pt", "safetensors": ".safetensors"}
# Traced at this LR size; verified at VERIFY_SIZES (different H != W, so a frozen or
# transposed size shows up).
TRACE_SIZE = (24, 20)
VERIFY_SIZES = ((17, 29), (40, 33))


def _metadata(model) -> dict[str, str]:
    return {
        "srlab.scale": str(model.scale),
        "srlab.in_channels": str(model.in_channels),
        "srlab.protocol.colour": "Y (BT.601, [16/255, 235/255])"
        if model.in_channels == 1
        else "RGB [0, 1]",
        "srlab.source": str(model.name),
        "srlab.architecture": model.meta.get("arch_label") or type(model.net).__name__,
        "srlab.net_config": json.dumps(model.meta.get("net_config") or {}),
    }


def export_onnx(model, path: Path, opset: int = 17) -> Path:
    """Write ``model.net`` as ONNX with dynamic batch/height/width and srlab metadata."""
    import onnx
    import torch

    example = torch.rand(1, model.in_channels, *TRACE_SIZE)
    axes = {0: "batch", 2: "height", 3: "width"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the legacy exporter announces itself
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(
            model.net,
            (example,),
            str(path),
            dynamo=False,
            opset_version=opset,
            input_names=["lr"],
            output_names=["sr"],
            dynamic_axes={"lr": axes, "sr": axes},
        )
    proto = onnx.load(str(path))
    for key, value in _metadata(model).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))
    return path


def export_torchscript(model, path: Path) -> Path:
    """Write ``model.net`` as a traced TorchScript module (metadata in ``srlab.json``)."""
    import torch

    example = torch.rand(1, model.in_channels, *TRACE_SIZE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.trace is deprecated, still works
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        traced = torch.jit.trace(model.net, example, check_trace=False)
        torch.jit.save(traced, str(path), _extra_files={"srlab.json": json.dumps(_metadata(model))})
    return path


def run_exported(path: Path, fmt: str, lr):
    """Run an exported file on ``lr (N, C, H, W)`` float32 (CPU) -> numpy ``sr``."""
    import torch

    if fmt == "safetensors":  # reloaded as spandrel-based tools do (srlab.interop.safetensors)
        from srlab.interop.safetensors import run_safetensors

        return run_safetensors(path, lr)
    if fmt == "onnx":
        import onnxruntime as ort

        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return session.run(["sr"], {"lr": lr.numpy()})[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        module = torch.jit.load(str(path), map_location="cpu")
    with torch.inference_mode():
        return module(lr).numpy()


def verify_export(model, path: Path, fmt: str, atol: float = 1e-4) -> float:
    """Max abs difference between the exported file and PyTorch on :data:`VERIFY_SIZES`.

    Raises:
        SrlabError: a wrong output shape or a difference above ``atol``.
    """
    import numpy as np
    import torch

    generator = torch.Generator().manual_seed(0)
    worst = 0.0
    for h, w in VERIFY_SIZES:
        lr = torch.rand(1, model.in_channels, h, w, generator=generator)
        with torch.inference_mode():
            expected = model.net(lr).numpy()
        got = run_exported(path, fmt, lr)
        if got.shape != expected.shape:
            raise SrlabError(
                f"exported {fmt} gives {got.shape} for a {h}x{w} input, PyTorch {expected.shape}"
            )
        worst = max(worst, float(np.abs(got - expected).max()))
    if worst > atol:
        raise SrlabError(f"exported {fmt} differs from PyTorch by {worst:.2e} (> {atol:.0e})")
    return worst
