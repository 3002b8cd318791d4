"""Quiet what libraries print on every run, without hiding srlab's own messages and warnings.

* Lightning's ``lightning`` logger has a console handler of its own *and* propagates to the root
  logger, which Hydra gives a console and a file handler: every Lightning line came out twice.
  Under Hydra (the root logger has handlers) Lightning's own handler is removed, so each line is
  printed once and also lands in the run's ``train.log``.
* Lightning's advertisement for its cloud logger (the "💡 Tip" line) is dropped.
* Deprecation warnings raised *inside* libraries about other libraries (Lightning on torch's
  pytree API, torch.jit's deprecation in the TorchScript exporter) are ignored by message; every
  other warning, srlab's included, is shown as usual.
"""

from __future__ import annotations

import logging
import warnings

# Library-internal deprecations a user cannot act on (message regexes).
LIBRARY_WARNINGS = (
    r".*isinstance\(treespec, LeafSpec\)` is deprecated",
    r"`torch\.jit\.(load|trace|script|save)` is deprecated",
    r".*TorchScript-based ONNX export.*deprecated",
)


class _DropTips(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "💡 Tip:" not in str(record.msg)


def quiet_library_output() -> None:
    """Apply the rules of the module docstring (idempotent); call after Lightning is imported."""
    lightning_logger = logging.getLogger("lightning")
    if logging.getLogger().handlers:  # Hydra (or the user) configured logging
        for handler in list(lightning_logger.handlers):
            if isinstance(handler, logging.StreamHandler):
                lightning_logger.removeHandler(handler)
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropTips) for f in logger.filters):
            logger.addFilter(_DropTips())
    for message in LIBRARY_WARNINGS:
        warnings.filterwarnings("ignore", message=message)
