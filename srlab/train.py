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

from srlab.config import CONFIG_DIR
from srlab.errors import user_errors

log = logging.getLogger("srlab.train")


def train(cfg: DictConfig) -> dict[str, float]:
    """Fit (and optionally test) the configured model; returns the logged metrics as floats.

    Extra keys: ``best_model_path`` is kept out of the dict (floats only) but logged and printed.
    """
    # Heavy imports here, not at module import: `--help` and config errors stay fast.
    import lightning as L
    import torch
    from hydra.utils import instantiate
    from lightning.pytorch.utilities import rank_zero_only

    from srlab.utils.distributed import check_launch
    from srlab.utils.instantiate import instantiate_callbacks, instantiate_loggers

    if cfg.get("seed") is not None:
        L.seed_everything(cfg.seed, workers=True, verbose=False)
    if cfg.get("torch_threads"):
        torch.set_num_threads(int(cfg.torch_threads))
    torch.set_float32_matmul_precision(cfg.get("matmul_precision", "high"))

    run_dir = cfg.paths.output_dir
    os.makedirs(run_dir, exist_ok=True)
    if rank_zero_only.rank == 0:  # DDP/SLURM (rank from the environment): one writer
        OmegaConf.save(cfg, os.path.join(run_dir, "config.yaml"), resolve=True)

    degradation = instantiate(cfg.degradation)
    datamodule = instantiate(cfg.data, degradation=degradation)
    model = instantiate(cfg.model)
    # Stored in every checkpoint so that it alone rebuilds the network. (Not passed to
    # instantiate(): Hydra would instantiate the dict's _target_ too.)
    model.hparams.net_config = OmegaConf.to_container(cfg.model.net, resolve=True)
    loggers = instantiate_loggers(cfg.get("logger"))
    callbacks = instantiate_callbacks(cfg.get("callbacks"), with_logger=bool(loggers))
    trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    check_launch(trainer)
    for lg in loggers:
        lg.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))

    log.info("run directory: %s", run_dir)
    trainer.fit(model=model, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}

    ckpt_cb = trainer.checkpoint_callback
    if ckpt_cb is not None and ckpt_cb.best_model_score is not None:
        metrics["val/psnr_best"] = float(ckpt_cb.best_model_score)
    if cfg.get("test"):
        test_ckpt = ckpt_cb.best_model_path if ckpt_cb is not None and ckpt_cb.best_model_path else None
        trainer.test(model=model, datamodule=datamodule, ckpt_path=test_ckpt, weights_only=False)
        metrics.update({k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("test/")})

    if rank_zero_only.rank == 0:
        _print_summary(cfg, metrics, ckpt_cb)
    _finish_wandb(loggers)
    return metrics


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
    _hydra_main()


if __name__ == "__main__":
    main()
