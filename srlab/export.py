"""Export a trained model for deployment:
``python -m srlab.export ckpt=PATH_OR_NAME format=onnx|torchscript|safetensors [output=FILE]``.

The formats, and the check of the written file against PyTorch (``verify=true``), are in
:mod:`srlab.inference.exporting`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import hydra
from omegaconf import DictConfig

from srlab.cli.config import CONFIG_DIR
from srlab.errors import ConfigError, user_errors

log = logging.getLogger("srlab.export")


def default_output(model, fmt: str) -> Path:
    """Beside the checkpoint (``best.ckpt`` -> ``best.onnx``), or ``./<name>_x<s>.<ext>``."""
    from srlab.checkpoints import WEIGHTS_DIR
    from srlab.inference.exporting import FORMATS

    ext = FORMATS[fmt]
    if model.path is not None and model.path.parent.resolve() != WEIGHTS_DIR:
        return model.path.with_suffix(ext)
    return Path(f"bicubic_x{model.scale}{ext}" if model.is_bicubic else f"{model.name}{ext}")


def export(cfg: DictConfig) -> Path:
    """Run ``srlab.export`` with a composed ``conf/export.yaml``; returns the written file."""
    import torch

    from srlab.checkpoints import load_model
    from srlab.inference.exporting import (
        FORMATS,
        VERIFY_SIZES,
        export_onnx,
        export_torchscript,
        verify_export,
    )

    fmt = str(cfg.get("format", "onnx")).lower()
    if fmt not in FORMATS:
        raise ConfigError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if cfg.get("ckpt") in (None, "", "???"):
        raise ConfigError(
            "srlab.export needs ckpt=… (a .ckpt file, a run directory, a bundled name or bicubic)"
        )
    scale = cfg.get("scale")
    model = load_model(cfg.ckpt, scale=None if scale is None else int(scale), device="cpu")
    model.net.float().eval()
    out = Path(str(cfg.output)) if cfg.get("output") else default_output(model, fmt)
    out.parent.mkdir(parents=True, exist_ok=True)
    with torch.inference_mode(False), torch.no_grad():
        if fmt == "onnx":
            export_onnx(model, out, int(cfg.get("opset", 17)))
        elif fmt == "safetensors":
            from srlab.interop.safetensors import export_safetensors

            export_safetensors(model, out)
        else:
            export_torchscript(model, out)
    dynamic = ", dynamic batch/height/width" if fmt != "safetensors" else ""
    message = f"[srlab] export: {model.describe()} -> {out} ({fmt}{dynamic}"
    if cfg.get("verify", True):
        worst = verify_export(model, out, fmt, float(cfg.get("atol", 1e-4)))
        message += f"; verified on {len(VERIFY_SIZES)} sizes, max |diff| {worst:.1e}"
    print(message + ")", flush=True)
    return out


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="export")
def _hydra_main(cfg: DictConfig) -> None:
    with user_errors():
        export(cfg)


def main() -> None:
    """Console entry point (``python -m srlab.export``)."""
    from srlab.cli.app import prepare

    prepare("export")  # --help, one vocabulary, one-line errors for typos (before heavy imports)
    _hydra_main()


if __name__ == "__main__":
    main()
