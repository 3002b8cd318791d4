"""Training throughput of the real Lightning loop (data workers, LR made on the device, metrics).

    python scripts/bench_train.py --model srcnn --trainer cpu --steps 200
    python scripts/bench_train.py --model srcnn --trainer gpu --precision bf16-mixed --batch-size 128

Prints HR patches per second measured between step ``--warmup`` and the last step (validation
excluded), for the composed ``conf/train.yaml`` with the given overrides.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import lightning as L
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from omegaconf import open_dict

from srlab.cli.config import CONFIG_DIR


class StepTimer(L.Callback):
    """Wall time between the end of step ``warmup`` and the end of the last training step."""

    def __init__(self, warmup: int) -> None:
        self.warmup, self.t0, self.t1, self.steps = warmup, None, None, 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == self.warmup:
            if trainer.strategy.root_device.type == "cuda":
                import torch

                torch.cuda.synchronize()
            self.t0 = time.perf_counter()
        elif trainer.global_step > self.warmup:
            if trainer.strategy.root_device.type == "cuda":
                import torch

                torch.cuda.synchronize()
            self.t1, self.steps = time.perf_counter(), trainer.global_step - self.warmup


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--model", default="srcnn")
    p.add_argument("--trainer", default="cpu")
    p.add_argument("--precision", default=None)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--patch", type=int, default=33)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("overrides", nargs="*", help="extra Hydra overrides")
    a = p.parse_args()
    from hydra.utils import instantiate

    out = tempfile.mkdtemp(prefix="srlab-bench-")
    overrides = [
        f"model={a.model}",
        f"trainer={a.trainer}",
        f"data.batch_size={a.batch_size}",
        f"data.patch_size={a.patch}",
        f"data.num_workers={a.workers}",
        "logger=none",
        # One long epoch: no validation inside the timed window.
        f"data.patches_per_epoch={a.batch_size * (a.steps + 10)}",
        f"trainer.max_steps={a.steps}",
        "+trainer.limit_val_batches=1",
        "trainer.enable_model_summary=false",
        *a.overrides,
    ]
    if a.precision:
        overrides.append(f"trainer.precision={a.precision}")
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("train", overrides=overrides, return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = out
    HydraConfig.instance().set_config(cfg)
    L.seed_everything(0, verbose=False)
    datamodule = instantiate(cfg.data, degradation=instantiate(cfg.degradation))
    model = instantiate(cfg.model)
    timer = StepTimer(a.warmup)
    trainer = instantiate(
        cfg.trainer,
        callbacks=[timer],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
    )
    trainer.fit(model, datamodule=datamodule)
    rate = timer.steps * a.batch_size / (timer.t1 - timer.t0)
    print(
        f"| {a.model} | {trainer.strategy.root_device.type} | {trainer.precision} | {a.batch_size}x{a.patch}x{a.patch} "
        f"| {rate:,.0f} patches/s | {timer.steps / (timer.t1 - timer.t0):.1f} steps/s |",
        flush=True,
    )


if __name__ == "__main__":
    main()
