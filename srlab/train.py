"""Train an SR model: ``python -m srlab.train model=srcnn data=sample data.scale=3``.

Hydra composes ``conf/train.yaml``; ``-m`` runs a sweep (one run directory and one W&B run per
job). :func:`train` returns the final metrics, so sweepers can optimise ``optimized_metric``.

Its length: the entry point plus the start-up and shutdown cases a long run meets (resume=auto, a
failed start leaving no folder, init_from, W&B offline, the end summary); each helper is small and
private to train().
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from srlab.cli.checks import validate_train_config
from srlab.cli.config import CONFIG_DIR
from srlab.errors import find_user_error, user_errors

log = logging.getLogger("srlab.train")


def train(cfg: DictConfig) -> dict[str, float]:
    """Fit (and optionally test) the configured model; returns the logged metrics as floats,
    plus ``val/psnr_best`` (the best checkpoint's score). Checkpoint paths are printed, not returned.

    A run that fails to start (a user error before its first training step: a bad value, missing
    data, an unusable checkpoint) leaves no run directory behind: the one Hydra created for it is
    removed, so ``srlab.report`` and ``resume=auto`` never meet empty runs.
    """
    run_dir = Path(str(cfg.paths.output_dir))
    fresh = _holds_only_hydra_files(run_dir)  # not a resumed run's directory
    progress: dict = {}
    try:
        return _train(cfg, progress)
    except RunAlreadyFinished as e:
        log.info("%s", e)
        print(f"[srlab] {e}", flush=True)
        return {}
    except BaseException as e:
        trainer = progress.get("trainer")
        started = trainer is not None and trainer.global_step > 0
        if fresh and not started and find_user_error(e) is not None:
            _remove_failed_start(run_dir, Path(str(cfg.paths.experiments_dir)))
        raise


class RunAlreadyFinished(Exception):
    """``resume=auto`` found the latest run already at ``trainer.max_steps``: nothing to train."""


# What Hydra writes into a run directory before srlab's code runs.
_HYDRA_FILES = {".hydra", "train.log"}


def _holds_only_hydra_files(run_dir: Path) -> bool:
    return not run_dir.exists() or {p.name for p in run_dir.iterdir()} <= _HYDRA_FILES


def _remove_failed_start(run_dir: Path, experiments_dir: Path) -> None:
    """Delete the directory of a run that never trained (and its experiment folder if that is
    now empty); only on global rank 0."""
    import shutil

    from lightning.pytorch.utilities import rank_zero_only

    if rank_zero_only.rank != 0 or not run_dir.is_dir():
        return
    shutil.rmtree(run_dir, ignore_errors=True)
    parent = run_dir.parent
    if parent.resolve().parent == experiments_dir.resolve() and not any(parent.iterdir()):
        parent.rmdir()  # experiments/<experiment_name>/ held only this run
    log.info("start-up failed: removed the run directory %s", run_dir)


def _train(cfg: DictConfig, progress: dict) -> dict[str, float]:
    """:func:`train`'s work; ``progress["trainer"]`` is set once the Trainer exists."""
    validate_train_config(cfg)  # one-line errors naming the key, before anything heavy
    # Heavy imports here, not at module import: `--help` and config errors stay fast.
    import lightning as L
    import torch
    from hydra.utils import instantiate
    from lightning.pytorch.utilities import rank_zero_only

    from srlab.training.callbacks.checkpoint import AtomicCheckpointIO
    from srlab.utils import hardware
    from srlab.utils.distributed import check_launch
    from srlab.utils.instantiate import instantiate_callbacks, instantiate_loggers
    from srlab.utils.logs import quiet_library_output

    quiet_library_output()

    if cfg.get("seed") is not None:
        L.seed_everything(cfg.seed, workers=True, verbose=False)
    if cfg.get("torch_threads"):
        torch.set_num_threads(int(cfg.torch_threads))
    torch.set_float32_matmul_precision(cfg.get("matmul_precision", "high"))
    if cfg.get("tune_malloc", True):
        hardware.tune_malloc()  # no page faults per step on reused activations (CPU)
    hardware.skip_absent_nvml()  # no failing NVML load per optimizer step (no NVIDIA driver)
    log.info(hardware.settings_line(cfg, torch.get_num_threads()))

    run_dir = cfg.paths.output_dir
    os.makedirs(run_dir, exist_ok=True)
    ckpt_path = _resume_checkpoint(cfg, run_dir)
    if rank_zero_only.rank == 0:  # DDP/SLURM (rank from the environment): one writer
        OmegaConf.save(cfg, os.path.join(run_dir, "config.yaml"), resolve=True)

    degradation = instantiate(cfg.degradation)
    datamodule = instantiate(cfg.data, degradation=degradation)
    model = instantiate(cfg.model)
    # Stored in every checkpoint so that it alone rebuilds the network. (Not passed to
    # instantiate(): Hydra would instantiate the dict's _target_ too.)
    model.hparams.net_config = OmegaConf.to_container(cfg.model.net, resolve=True)
    if cfg.get("init_from") and ckpt_path is None:
        _init_weights(model, str(cfg.init_from), model.hparams.net_config)
    loggers = instantiate_loggers(cfg.get("logger"))
    callbacks = instantiate_callbacks(cfg.get("callbacks"), with_logger=bool(loggers))
    # Every checkpoint (best, last, periodic) is written atomically: temp file + fsync + rename.
    extra = {} if cfg.trainer.get("plugins") else {"plugins": [AtomicCheckpointIO()]}
    trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False, **extra)
    progress["trainer"] = trainer
    check_launch(trainer)
    for lg in loggers:
        lg.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
    if rank_zero_only.rank == 0:
        _record_wandb_id(loggers, run_dir)

    log.info("run directory: %s", run_dir)
    trainer.fit(model=model, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}

    ckpt_cb = trainer.checkpoint_callback
    if ckpt_cb is not None and ckpt_cb.best_model_score is not None:
        metrics["val/psnr_best"] = float(ckpt_cb.best_model_score)
    if cfg.get("test"):
        test_ckpt = (
            ckpt_cb.best_model_path if ckpt_cb is not None and ckpt_cb.best_model_path else None
        )
        trainer.test(model=model, datamodule=datamodule, ckpt_path=test_ckpt, weights_only=True)
        metrics.update(
            {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("test/")}
        )

    if rank_zero_only.rank == 0:
        _print_summary(cfg, metrics, trainer, model.in_channels)
    _finish_wandb(loggers)
    return metrics


# ---------------------------------------------------------------------------- resume
def _resume_checkpoint(cfg: DictConfig, run_dir: str) -> str | None:
    """The checkpoint to continue from (``ckpt=…`` or ``resume=auto``), with loggers set up
    to continue too: the W&B run id recorded by the resumed run, CSV metrics in a new sub-folder.
    """
    from omegaconf import open_dict

    from srlab.training.resume import LAST_CKPT, latest_resumable_run, read_wandb_id

    ckpt_path, resumed_run = cfg.get("ckpt"), None
    if ckpt_path is None and cfg.get("resume") == "auto":
        resumed_run = latest_resumable_run(cfg.paths.experiments_dir, cfg.experiment_name)
        if resumed_run is None:
            log.info(
                "resume=auto: no earlier run of %s with %s; starting fresh",
                cfg.experiment_name,
                LAST_CKPT,
            )
            return None
        ckpt_path = str(resumed_run / LAST_CKPT)
        if os.path.abspath(resumed_run) != os.path.abspath(run_dir):  # e.g. inside a multirun
            with open(os.path.join(run_dir, "resumed_from"), "w") as f:
                f.write(f"{resumed_run}\n")
    if ckpt_path is None:
        return None
    step = _check_resumable(cfg, str(ckpt_path), resumed_run)
    log.info("resuming from %s (global step %d)", ckpt_path, step)
    print(f"[srlab] resuming from {ckpt_path} at global step {step}", flush=True)
    with open_dict(cfg):
        wandb_id = read_wandb_id(resumed_run) if resumed_run is not None else None
        if wandb_id and cfg.get("logger") and "wandb" in cfg.logger:
            cfg.logger.wandb.id, cfg.logger.wandb.resume = wandb_id, "allow"
        if cfg.get("logger") and "csv" in cfg.logger:
            # CSVLogger deletes an existing metrics.csv: keep each attempt's metrics apart.
            cfg.logger.csv.version = f"resumed_at_step_{step}"
    return str(ckpt_path)


def _check_resumable(cfg: DictConfig, ckpt_path: str, resumed_run) -> int:
    """The global step of checkpoint ``ckpt_path``, after checking that this config can continue
    it: readable (one-line errors), the configured model and scale, steps left to train.

    Raises:
        CheckpointError: unreadable, or another architecture or scale (``init_from=`` fine-tunes
            from another checkpoint's weights); ``trainer.max_steps`` already reached.
    """
    from srlab.checkpoints import CheckpointError, checkpoint_meta, read_checkpoint
    from srlab.checkpoints.loading import mismatches

    what = f"resume=auto: the latest run's {ckpt_path}" if resumed_run else f"ckpt={ckpt_path}"
    ckpt = read_checkpoint(ckpt_path, mmap=True)  # metadata only: tensors stay on disk
    net_config = OmegaConf.to_container(cfg.model.net, resolve=True)
    differences = mismatches(checkpoint_meta(ckpt), int(cfg.data.scale), net_config)
    if differences:
        raise CheckpointError(
            f"{what} cannot be continued with this config: {'; '.join(differences)}. "
            "ckpt=/resume= continue a run with its own model and scale; to train this config "
            f"starting from the checkpoint's weights, use init_from={ckpt_path}"
        )
    step = int(ckpt.get("global_step", 0))
    max_steps = cfg.trainer.get("max_steps")
    if max_steps is not None and max_steps != -1 and step >= int(max_steps) and resumed_run:
        # resume=auto is idempotent (crash-recovery loops, requeued jobs): a finished run is
        # nothing to do, not an error.
        raise RunAlreadyFinished(
            f"resume=auto: the latest run {resumed_run} already reached trainer.max_steps="
            f"{max_steps} (global step {step}): nothing to do; its files stay as they are"
        )
    if max_steps is not None and max_steps != -1 and step >= int(max_steps):
        raise CheckpointError(
            f"{what} is at global step {step} and trainer.max_steps={max_steps}: nothing left "
            f"to train (the run's summary.json and checkpoints stay as they are); raise "
            f"trainer.max_steps above {step} to continue it"
        )
    return step


def _init_weights(model, spec: str, net_config: dict) -> None:
    """Fine-tuning: copy the network weights of checkpoint ``spec`` into ``model.net``.

    Only the weights are taken (optimizer, scheduler and step start fresh). The architecture must
    match the configured one; the scale may differ where the weights do not depend on it (SRCNN and
    VDSR upsample with bicubic before their convolutions), which a strict load checks.
    """
    from srlab.checkpoints import CheckpointError, check_compatible, load_model

    loaded = load_model(spec, device="cpu")
    if loaded.is_bicubic:
        raise CheckpointError("init_from=bicubic: bicubic has no weights to start from")
    check_compatible(loaded.meta, str(loaded.path), net_config=net_config)
    try:
        model.net.load_state_dict(loaded.net.state_dict())
    except RuntimeError as e:
        first = str(e).splitlines()[1].strip() if len(str(e).splitlines()) > 1 else str(e)
        raise CheckpointError(
            f"init_from={spec}: its x{loaded.scale} weights do not fit the configured "
            f"x{model.scale} network ({first})"
        ) from e
    log.info("initialised the network from %s (%s)", loaded.path, loaded.describe())
    print(f"[srlab] fine-tuning from the weights of {loaded.describe()}", flush=True)


def _record_wandb_id(loggers: list, run_dir: str) -> None:
    """Save the W&B run id in the run directory, so that ``resume=auto`` logs into the same run."""
    from lightning.pytorch.loggers import WandbLogger

    from srlab.training.resume import write_wandb_id

    for lg in loggers:
        if isinstance(lg, WandbLogger):
            write_wandb_id(run_dir, lg.experiment.id)


def _print_summary(cfg: DictConfig, metrics: dict[str, float], trainer, in_channels: int) -> None:
    from srlab.training.callbacks.checkpoint import checkpoint_paths

    name = cfg.get("experiment_name", "model")
    best = metrics.get("val/psnr_best", metrics.get("val/psnr"))
    bicubic = metrics.get("val/psnr_bicubic")
    colour = "Y" if in_channels == 1 else "RGB"
    lines = [f"[srlab] {name}: validation PSNR (Y, {cfg.data.scale}-px border shaved)"]
    if best is not None:
        lines.append(f"  model   : {best:.3f} dB (best checkpoint)")
    if bicubic is not None:
        # The model's own baseline: the same LR images upsampled by bicubic in its colour mode.
        lines.append(
            f"  bicubic : {bicubic:.3f} dB (bicubic ({colour}): same LR, {colour} upsampled)"
        )
    if best is not None and bicubic is not None:
        lines.append(f"  gain    : {best - bicubic:+.3f} dB")
    best_path, last_path = checkpoint_paths(trainer)
    if best_path:
        lines.append(f"  best    : {best_path}")
    if last_path:
        lines.append(f"  last    : {last_path}")
    print("\n".join(lines), flush=True)


def _finish_wandb(loggers: list) -> None:
    # Each multirun job must close its W&B run, or the next job would log into it.
    if "wandb" in sys.modules:
        import wandb

        if wandb.run is not None:
            wandb.finish()


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def _hydra_main(cfg: DictConfig) -> float | None:
    with user_errors():
        metrics = train(cfg)
    metric = cfg.get("optimized_metric")
    return metrics.get(metric) if metric else None


def main() -> None:
    """Console entry point (``python -m srlab.train`` / ``srlab-train``)."""
    from srlab.cli.app import prepare

    prepare("train")  # --help, one vocabulary, one-line errors for typos (before heavy imports)
    _hydra_main()


if __name__ == "__main__":
    main()
