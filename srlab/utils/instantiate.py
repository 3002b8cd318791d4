"""Instantiating the callbacks and loggers config groups."""

from __future__ import annotations

import logging

from hydra.utils import instantiate
from omegaconf import DictConfig

log = logging.getLogger(__name__)


def instantiate_callbacks(cfg: DictConfig | None, with_logger: bool) -> list:
    """Every ``_target_`` entry of the ``callbacks`` group; logger-only ones skipped without a logger."""
    from lightning.pytorch.callbacks import LearningRateMonitor

    callbacks = []
    for name, conf in (cfg or {}).items():
        if not isinstance(conf, DictConfig) or "_target_" not in conf:
            continue
        callback = instantiate(conf)
        if isinstance(callback, LearningRateMonitor) and not with_logger:
            log.info("callback %s skipped: it needs a logger (logger=none)", name)
            continue
        callbacks.append(callback)
    return callbacks


def instantiate_loggers(cfg: DictConfig | None) -> list:
    """Every ``_target_`` entry of the ``logger`` group (empty for ``logger=none``)."""
    loggers = []
    for _, conf in (cfg or {}).items():
        if isinstance(conf, DictConfig) and "_target_" in conf:
            loggers.append(instantiate(conf))
    return loggers
