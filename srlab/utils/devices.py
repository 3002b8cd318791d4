"""Which device a command runs on (``device=auto|cpu|cuda|cuda:N``), decided in one place."""

from __future__ import annotations

import torch

from srlab.errors import ConfigError


def pick_device(name: str | torch.device | None = "auto") -> torch.device:
    """``auto``/``None`` (CUDA when available, else CPU), ``cpu``, ``cuda`` or ``cuda:N``.

    Raises:
        ConfigError: CUDA asked for but not available, or an unknown name.
    """
    if isinstance(name, torch.device):
        return name
    text = str(name or "auto").lower()
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if text.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"device={text} but CUDA is not available here; use device=cpu or device=auto"
        )
    if text != "cpu" and not text.startswith("cuda"):
        raise ConfigError(f"device must be auto, cpu, cuda or cuda:N, got {text!r}")
    return torch.device(text)
