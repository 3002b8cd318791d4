"""Crash-safe checkpoints: atomic writes for every save, and the training-state extras for resume.

* :class:`AtomicCheckpointIO` — set on the Trainer (``plugins=[...]``), it makes every checkpoint
  Lightning writes (best, last, periodic) atomic: the bytes go to a temporary file in the same
  folder, are flushed and ``fsync``-ed, then ``os.replace``-d onto the target name (and the folder
  is fsync-ed). A kill at any moment leaves either the previous or the new file, never a truncated
  one. (Lightning's own save goes through an fsspec transaction whose temporary file lives in the
  system temp dir: across filesystems the final move is a copy, and nothing is fsync-ed.)
* :class:`TrainingStateCheckpoint` — a callback storing what Lightning does not: the torch (CPU and
  CUDA), numpy and Python RNG states, the training dataset's patch generator and the DataModule's
  training-degradation generator, so a resumed run draws the same random patches and
  degradations as an uninterrupted one.

* :class:`LastCheckpoint` — ``last.ckpt`` (``callbacks.periodic_checkpoint``): every
  ``every_n_train_steps`` steps, after every validation and at the end of training, so it always
  holds the latest state. The best-on-``val/psnr`` callback stays the first ModelCheckpoint
  (``trainer.checkpoint_callback``); :func:`checkpoint_paths` reads both.

Its length: atomic writes, RNG state capture and the two checkpoint callbacks are one guarantee (an
interrupted run resumes exactly from a complete file) and are tested together.
"""

from __future__ import annotations

import logging
import os
import random
import tempfile
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.pytorch.callbacks import ModelCheckpoint

from srlab.utils.files import default_file_mode

log = logging.getLogger(__name__)

# Test-only hook: seconds to sleep after each chunk torch.save writes, so that a test can kill the
# process in the middle of a checkpoint write. Never set it for real runs.
WRITE_DELAY_ENV = "SRLAB_TEST_CHECKPOINT_WRITE_DELAY"


class _SlowWriter:
    """A file wrapper that sleeps after every write (see :data:`WRITE_DELAY_ENV`)."""

    def __init__(self, f, delay: float) -> None:
        self.f, self.delay = f, delay

    def write(self, data) -> int:
        n = self.f.write(data)
        self.f.flush()
        time.sleep(self.delay)
        return n

    def flush(self) -> None:
        self.f.flush()


def temp_files_for(path: str | Path) -> list[Path]:
    """Temporary files that :func:`atomic_torch_save` writing ``path`` may have left (a killed run)."""
    path = Path(path)
    return sorted(path.parent.glob(f".{path.name}.*.tmp"))


def atomic_torch_save(obj: Any, path: str | Path) -> None:
    """``torch.save(obj, path)`` such that ``path`` is always either the old or the new file.

    Writes ``.<name>.<random>.tmp`` beside ``path``, fsyncs it, renames it over ``path`` with
    ``os.replace`` (atomic on POSIX and Windows within one filesystem) and fsyncs the folder so that
    the rename itself survives a power loss. Temporary files left by a killed earlier writer of the
    same target are removed first.
    """
    path = Path(path)
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    for stale in temp_files_for(path):
        with suppress(OSError):
            stale.unlink()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            delay = float(os.environ.get(WRITE_DELAY_ENV) or 0)
            torch.save(obj, _SlowWriter(f, delay) if delay > 0 else f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, default_file_mode())  # mkstemp makes 0600 files: 0644 like other outputs
        os.replace(tmp, path)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    if os.name != "posix":
        return  # directories cannot be opened for fsync on Windows; the rename is still atomic
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:  # some filesystems (e.g. certain network mounts) refuse directory fsync
        pass
    finally:
        os.close(fd)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning CheckpointIO writing local checkpoints with :func:`atomic_torch_save`.

    Remote URLs (``s3://`` …) fall back to Lightning's own writer.
    """

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path, storage_options: Any | None = None
    ) -> None:
        if "://" in str(path) and not str(path).startswith("file://"):
            return super().save_checkpoint(checkpoint, path, storage_options)
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} does not take storage_options")
        atomic_torch_save(checkpoint, str(path).removeprefix("file://"))


# ---------------------------------------------------------------------------- RNG / training state
def collect_rng_states() -> dict[str, Any]:
    """torch (CPU, every CUDA device), numpy and Python RNG states as tensors and plain values.

    Only tensors, ints, floats, strings and tuples: checkpoints keep loading with
    ``torch.load(weights_only=True)``.
    """
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, py_state, gauss_next = random.getstate()
    states = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "kind": str(kind),
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "python": {"version": int(version), "state": list(py_state), "gauss_next": gauss_next},
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict[str, Any]) -> None:
    """Inverse of :func:`collect_rng_states` (CUDA states only where the device count matches)."""
    torch.set_rng_state(states["torch"])
    n = states["numpy"]
    np.random.set_state(
        (
            n["kind"],
            n["keys"].numpy().astype(np.uint32),
            n["pos"],
            n["has_gauss"],
            n["cached_gaussian"],
        )
    )
    p = states["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss_next"]))
    cuda = states.get("cuda")
    if cuda is not None and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


class TrainingStateCheckpoint(L.Callback):
    """Saves RNG states and the training generators in every checkpoint; restores them.

    The global RNG states are restored as soon as Lightning loads the checkpoint (before the
    training dataloader is iterated); the training dataset's patch generator (crops and flips with
    ``num_workers=0``) and the DataModule generator (degradation randomness of training batches)
    when training starts, the latter on the module's device.

    Guarantee (tested in tests/training/test_resume.py and tests/test_readme.py): single process,
    ``num_workers=0``, resuming from a checkpoint taken at an epoch boundary — the ``last.ckpt``
    written after an epoch-end validation (:class:`LastCheckpoint`), or a periodic one whose
    interval is a multiple of the epoch length ``patches_per_epoch // batch_size`` — gives the same
    weights as never stopping (deterministic CPU). A mid-epoch checkpoint (periodic, or written
    after a mid-epoch ``val_check_interval`` validation) restarts the epoch's dataloader, whose
    prefetched batch had already drawn patches (Lightning's loaders are not resumable), and with
    workers the worker seeds may be drawn in another order: training continues correctly, but not
    on the random patches the uninterrupted run would have drawn. Under DDP the checkpoint holds
    rank 0's states; the other ranks are re-seeded from them and their rank (distinct,
    deterministic streams).
    """

    def __init__(self) -> None:
        self._pending_generator_state: torch.Tensor | None = None
        self._pending_patch_state: torch.Tensor | None = None

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"rng": collect_rng_states()}
        generator = self._datamodule_generator()
        if generator is not None:
            state["datamodule_generator"] = generator.get_state()
        patches = self._patch_generator()
        if patches is not None:
            state["patch_generator"] = patches.get_state()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._pending_generator_state = state_dict.get("datamodule_generator")
        self._pending_patch_state = state_dict.get("patch_generator")
        if "rng" not in state_dict:
            return
        set_rng_states(state_dict["rng"])
        rank = getattr(getattr(self, "_trainer", None), "global_rank", 0)
        if rank:
            # The checkpoint holds rank 0's states only: give every other rank its own stream
            # (deterministic, but not the one it would have drawn without the interruption).
            seed = (int(torch.randint(2**62, ())) + 1_000_003 * rank) % 2**32
            torch.manual_seed(seed)
            np.random.seed(seed)
            random.seed(seed)
            self._pending_generator_state = None  # keeps its own per-rank seed
            self._pending_patch_state = seed  # a per-rank seed for its patches too

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self._trainer = trainer  # before Lightning restores a checkpoint (load_state_dict)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        patch_state, self._pending_patch_state = self._pending_patch_state, None
        patches = self._patch_generator()
        if patch_state is not None and patches is not None:
            if isinstance(patch_state, int):
                patches.manual_seed(patch_state)
            else:
                patches.set_state(patch_state)
        state, self._pending_generator_state = self._pending_generator_state, None
        datamodule = trainer.datamodule
        if state is None or datamodule is None or not hasattr(datamodule, "_train_generator"):
            return
        generator = torch.Generator(device=pl_module.device)
        generator.set_state(state)
        # SRDataModule draws training degradations from this generator (created lazily otherwise).
        datamodule._train_generator = generator

    def _patch_generator(self) -> torch.Generator | None:
        """The training dataset's main-process patch generator (``num_workers=0``), if any."""
        trainer = getattr(self, "_trainer", None)
        datamodule = getattr(trainer, "datamodule", None) if trainer is not None else None
        dataset = getattr(datamodule, "train_set", None)
        generator = getattr(dataset, "patch_generator", None)
        return generator if isinstance(generator, torch.Generator) else None

    def _datamodule_generator(self) -> torch.Generator | None:
        trainer = getattr(self, "_trainer", None)
        datamodule = getattr(trainer, "datamodule", None) if trainer is not None else None
        generator = getattr(datamodule, "_train_generator", None)
        return generator if isinstance(generator, torch.Generator) else None


# ---------------------------------------------------------------------------- last.ckpt
class LastCheckpoint(ModelCheckpoint):
    """Writes ``<dirpath>/last.ckpt`` every ``every_n_train_steps`` steps, after every validation
    during fit, and when training ends (if that step was not saved yet).

    Lightning's ``ModelCheckpoint(save_last=True, every_n_train_steps=N)`` alone saves at the N-step
    marks and, at the end, only if it never saved before: a run of 1500 steps with N = 1000 would
    end with a ``last.ckpt`` of step 1000.

    Args:
        dirpath: the checkpoint folder (``${paths.output_dir}/checkpoints``).
        every_n_train_steps: optimizer steps between periodic saves (``None``: no periodic save).
    """

    def __init__(self, dirpath: str, every_n_train_steps: int | None = 1000) -> None:
        super().__init__(
            dirpath=dirpath,
            save_top_k=0,
            save_last=True,
            every_n_train_steps=every_n_train_steps,
        )

    def _save_last_now(self, trainer: L.Trainer) -> None:
        # Skipped outside fit, during the sanity check, and when this step is saved already.
        if not self._should_skip_saving_checkpoint(trainer):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_validation_end(trainer, pl_module)
        self._save_last_now(trainer)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_end(trainer, pl_module)
        if trainer.global_step > 0:
            self._save_last_now(trainer)


def checkpoint_paths(trainer: L.Trainer) -> tuple[str | None, str | None]:
    """``(best, last)`` absolute checkpoint paths of a trainer's ``ModelCheckpoint`` callbacks.

    The best one is ``trainer.checkpoint_callback``'s (the first ModelCheckpoint: ``val/psnr``);
    ``last.ckpt`` is written by another one (:class:`LastCheckpoint`), so every callback is asked.
    ``None`` for a checkpoint that was not written.
    """
    callbacks = list(getattr(trainer, "checkpoint_callbacks", None) or [])
    first = getattr(trainer, "checkpoint_callback", None)
    best = getattr(first, "best_model_path", "") or None
    last = next(
        (cb.last_model_path for cb in callbacks if getattr(cb, "last_model_path", "")), None
    )
    return (
        os.path.abspath(best) if best else None,
        os.path.abspath(last) if last else None,
    )
