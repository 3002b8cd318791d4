"""Train an SR model: ``python -m srlab.train model=srcnn data=sample data.scale=3``.

Hydra composes ``conf/train.yaml``; ``-m`` runs a sweep (one run directory and one W&B run per
job). :func:`train` returns the final metrics, so sweepers can optimise ``optimized_metric``.
"""

from __future__ import annotations

import logging
import os
import sys

import hydra
from omegaconf import DictConfig, OmegaConf

from srlab.cli.checks import validate_train_config
from srlab.cli.config import CONFIG_DIR
from srlab.errors import user_errors

log = logging.getLogger("srlab.train")


def train(cfg: DictConfig) -> dict[str, float]:
    """Fit (and optionally test) the configured model; returns the logged metrics as floats,
    plus ``val/psnr_best`` (the best checkpoint's score). Checkpoint paths are printed, not returned.
    """
    validate_train_config(cfg)  # one-line errors naming the key, before anything heavy
    # Heavy imports here, not at module import: `--help` and config errors stay fast.
    import lightning as L
    import torch
    from hydra.utils import instantiate
    from lightning.pytorch.utilities import rank_zero_only

    from srlab.training.callbacks.checkpoint import AtomicCheckpointIO
    from srlab.utils.distributed import check_launch
    from srlab.utils.instantiate import instantiate_callbacks, instantiate_loggers
    from srlab.utils.logs import quiet_library_output

    quiet_library_output()

    if cfg.get("seed") is not None:
        L.seed_everything(cfg.seed, workers=True, verbose=False)
    if cfg.get("torch_threads"):
        torch.set_num_threads(int(cfg.torch_threads))
    torch.set_float32_matmul_precision(cfg.get("matmul_precision", "high"))

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
        trainer.test(model=model, datamodule=datamodule, ckpt_path=test_ckpt, weights_only=False)
        metrics.update(
            {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("test/")}
        )

    if rank_zero_only.rank == 0:
        _print_summary(cfg, metrics, ckpt_cb)
    _finish_wandb(loggers)
    return metrics


# ---------------------------------------------------------------------------- resume
def _resume_checkpoint(cfg: DictConfig, run_dir: str) -> str | None:
    """The checkpoint to continue from (``ckpt=…`` or ``resume=auto``), with loggers set up
    to continue too: the W&B run id recorded by the resumed run, CSV metrics in a new sub-folder.
    """
    import torch
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
    step = torch.load(ckpt_path, map_location="cpu", weights_only=True, mmap=True).get(
        "global_step", 0
    )
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


def _print_summary(cfg: DictConfig, metrics: dict[str, float], ckpt_cb) -> None:
    name = cfg.get("experiment_name", "model")
    best = metrics.get("val/psnr_best", metrics.get("val/psnr"))
    bicubic = metrics.get("val/psnr_bicubic")
    lines = [f"[srlab] {name}: validation PSNR (Y, {cfg.data.scale}-px border shaved)"]
    if best is not None:
        lines.append(f"  model   : {best:.3f} dB (best checkpoint)")
    if bicubic is not None:
        lines.append(f"  bicubic : {bicubic:.3f} dB")
    if best is not None and bicubic is not None:
        lines.append(f"  gain    : {best - bicubic:+.3f} dB")
    if ckpt_cb is not None and ckpt_cb.best_model_path:
        lines.append(f"  best    : {ckpt_cb.best_model_path}")
        last = os.path.join(ckpt_cb.dirpath, "last.ckpt")
        if os.path.exists(last):
            lines.append(f"  last    : {last}")
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
