"""Finding and loading trained models: ``ckpt=`` as a file, a run directory, a bundled name or
``bicubic`` (:mod:`.loading`), and the bundled weights' registry (:mod:`.bundled`)."""

from srlab.checkpoints.bundled import (
    REGISTRY_FILE,
    WEIGHTS_DIR,
    bundle_checkpoint,
    bundled_weights,
    valid_names,
)
from srlab.checkpoints.loading import (
    BICUBIC,
    CheckpointError,
    LoadedModel,
    check_compatible,
    checkpoint_meta,
    load_model,
    net_from_checkpoint,
    read_checkpoint,
    resolve_checkpoint,
)

__all__ = [
    "BICUBIC",
    "REGISTRY_FILE",
    "WEIGHTS_DIR",
    "CheckpointError",
    "LoadedModel",
    "bundle_checkpoint",
    "bundled_weights",
    "check_compatible",
    "checkpoint_meta",
    "load_model",
    "net_from_checkpoint",
    "read_checkpoint",
    "resolve_checkpoint",
    "valid_names",
]
