"""DDP: validation under 2 CPU processes (gloo) scores each image once and matches 1 process."""

from __future__ import annotations

import json

import pytest
import torch

from tests.conftest import compose_train, fast_overrides, run_module, write_images


def test_unpadded_sampler_shards_cover_every_image_exactly_once():
    from torch.utils.data import DistributedSampler

    from srlab.data.samplers import UnpaddedDistributedSampler, evaluation_sampler

    for n, world in [(3, 2), (5, 4), (1, 2), (8, 3), (4, 4)]:
        data = list(range(n))
        shards = [list(UnpaddedDistributedSampler(data, world, rank)) for rank in range(world)]
        assert sorted(i for s in shards for i in s) == data, (n, world)
        assert [len(UnpaddedDistributedSampler(data, world, r)) for r in range(world)] == [
            len(s) for s in shards
        ]
        # A DistributedSampler subclass, so Lightning does not replace it with its padding one.
        assert isinstance(UnpaddedDistributedSampler(data, world, 0), DistributedSampler)
    # Lightning's default would pad 3 images on 2 ranks to 4 (image 0 twice): what this avoids.
    padded = [list(DistributedSampler(list(range(3)), 2, r, shuffle=False)) for r in range(2)]
    assert sorted(i for s in padded for i in s) == [0, 0, 1, 2]

    class _Trainer:
        world_size, global_rank = 2, 1

    assert list(evaluation_sampler(list(range(3)), _Trainer())) == [1]
    assert evaluation_sampler(list(range(3)), None) is None


def test_ddp_config_takes_devices_and_nodes_from_torchrun_and_slurm(monkeypatch):
    for var in (
        "LOCAL_WORLD_SIZE",
        "WORLD_SIZE",
        "SLURM_NTASKS",
        "SLURM_NTASKS_PER_NODE",
        "SLURM_NNODES",
        "SLURM_JOB_NAME",
    ):
        monkeypatch.delenv(var, raising=False)
    cfg = compose_train(["trainer=ddp"])
    assert (cfg.trainer.devices, cfg.trainer.num_nodes) == ("auto", 1)
    assert cfg.trainer.strategy._target_ == "lightning.pytorch.strategies.DDPStrategy"

    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    monkeypatch.setenv("WORLD_SIZE", "8")
    cfg = compose_train(["trainer=ddp"])
    assert (cfg.trainer.devices, cfg.trainer.num_nodes) == (4, 2)

    monkeypatch.delenv("LOCAL_WORLD_SIZE")
    monkeypatch.delenv("WORLD_SIZE")
    monkeypatch.setenv("SLURM_NTASKS", "6")
    monkeypatch.setenv("SLURM_NTASKS_PER_NODE", "2")
    monkeypatch.setenv("SLURM_NNODES", "3")
    monkeypatch.setenv("SLURM_JOB_NAME", "srlab")
    cfg = compose_train(["trainer=ddp"])
    assert (cfg.trainer.devices, cfg.trainer.num_nodes) == (2, 3)
    monkeypatch.setenv("SLURM_JOB_NAME", "bash")  # an interactive salloc shell: not a SLURM launch
    cfg = compose_train(["trainer=ddp"])
    assert (cfg.trainer.devices, cfg.trainer.num_nodes) == ("auto", 1)


def _validate_single_process(cfg, ckpt_path) -> float:
    import lightning as L
    from hydra.utils import instantiate

    datamodule = instantiate(cfg.data, degradation=instantiate(cfg.degradation))
    module = instantiate(cfg.model)
    module.load_state_dict(
        torch.load(ckpt_path, map_location="cpu", weights_only=True)["state_dict"]
    )
    trainer = L.Trainer(
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    (result,) = trainer.validate(module, datamodule=datamodule, verbose=False)
    return result["val/psnr"]


def test_ddp_two_cpu_processes_validate_like_one(tmp_path):
    """2 gloo processes train 2 steps; their synchronised val/psnr over 3 images (odd, so a
    padding sampler would score one twice) equals a 1-process validation of the same weights."""
    train_dir, val_dir = tmp_path / "train", tmp_path / "val"
    write_images(train_dir, 4, size=(48, 48), seed=1)
    write_images(val_dir, 3, size=(36, 42), seed=2, grey_every=3)
    run_dir = tmp_path / "ddp_run"
    overrides = [
        o for o in fast_overrides(train_dir, val_dir, steps=2) if not o.startswith("trainer=")
    ]
    args = [
        "trainer=ddp",
        "trainer.accelerator=cpu",
        "trainer.devices=2",
        f"hydra.run.dir={run_dir}",
        "model=srcnn_915",
        "torch_threads=1",
        *overrides,
    ]
    proc = run_module("srlab.train", args, cwd=tmp_path, timeout=180, env={"OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (run_dir / "train_ddp_process_1.log").is_file(), "the second rank did not run"

    vals = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    vals = [v for v in vals if "val/psnr" in v]
    assert vals and vals[-1]["step"] == 2
    ddp_psnr = vals[-1]["val/psnr"]
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    assert torch.load(ckpt, map_location="cpu", weights_only=True)["global_step"] == 2

    cfg = compose_train(
        ["model=srcnn_915", *fast_overrides(train_dir, val_dir, steps=2)],
        output_dir=tmp_path / "one",
    )
    single_psnr = _validate_single_process(cfg, ckpt)
    assert ddp_psnr == pytest.approx(single_psnr, abs=1e-4)

    # The check has teeth: with image 0 scored twice (padding) the mean would differ.
    from hydra.utils import instantiate

    from srlab.training.callbacks.wandb_panels import score_validation_images

    datamodule = instantiate(cfg.data, degradation=instantiate(cfg.degradation))
    datamodule.setup("validate")
    module = instantiate(cfg.model)
    module.load_state_dict(torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"])
    per_image = [r["psnr"] for r in score_validation_images(module.eval(), datamodule)]
    assert sum(per_image) / 3 == pytest.approx(single_psnr, abs=1e-4)
    assert abs((sum(per_image) + per_image[0]) / 4 - single_psnr) > 1e-3


def test_ddp_trainer_instantiates_on_cpu_and_refuses_lightning_launcher_inside_a_sweep(
    tmp_path, monkeypatch
):
    from hydra.utils import instantiate
    from lightning.pytorch.strategies import DDPStrategy

    from srlab.errors import ConfigError
    from srlab.utils import distributed, run_names

    cfg = compose_train(
        ["trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2"], output_dir=tmp_path
    )
    trainer = instantiate(cfg.trainer, logger=False, enable_progress_bar=False)
    assert isinstance(trainer.strategy, DDPStrategy) and trainer.world_size == 2
    distributed.check_launch(trainer)  # a single run: Lightning starts the second process itself
    monkeypatch.setattr(run_names, "in_sweep", lambda: True)
    with pytest.raises(ConfigError, match="submitit_slurm"):
        distributed.check_launch(trainer)


@pytest.mark.slow  # two torchrun-started processes (~30 s on 2 cores)
def test_torchrun_two_cpu_processes_train_on_different_patches_and_validate(tmp_path):
    """A torchrun launch (not Lightning's own launcher) of 2 gloo processes with num_workers=0:
    both ranks train, on different patches (item 4), and validation equals one process's."""
    import sys

    train_dir, val_dir = tmp_path / "train", tmp_path / "val"
    write_images(train_dir, 4, size=(48, 48), seed=1)
    write_images(val_dir, 3, size=(36, 42), seed=2, grey_every=3)
    run_dir = tmp_path / "torchrun_run"
    overrides = [
        o for o in fast_overrides(train_dir, val_dir, steps=3) if not o.startswith("trainer=")
    ]
    digests = tmp_path / "batches"
    args = [
        "-m",
        "torch.distributed.run",
        "--standalone",  # single node: rendezvous on a free local port
        "--nproc_per_node=2",
        "-m",
        "srlab.train",
        "trainer=ddp",
        "trainer.accelerator=cpu",
        f"hydra.run.dir={run_dir}",
        "model=srcnn_915",
        "torch_threads=1",
        "+callbacks.digest._target_=tests.helper_callbacks.BatchDigest",
        f"+callbacks.digest.path={digests}",
        *overrides,
    ]
    import os
    import signal
    import subprocess

    from tests.conftest import REPO_ROOT

    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # torchrun and its workers in one process group
    )
    try:
        out, _ = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # no worker left behind
        out, _ = proc.communicate()
        pytest.fail(f"torchrun did not finish in 300 s:\n{out[-4000:]}")
    assert proc.returncode == 0, out[-4000:]

    ranks = [
        dict(line.split() for line in (tmp_path / f"batches.rank{r}").read_text().splitlines())
        for r in (0, 1)
    ]
    assert set(ranks[0]) == set(ranks[1]) == {"1", "2", "3"}  # both trained 3 steps
    assert all(ranks[0][step] != ranks[1][step] for step in ranks[0])  # on different patches

    vals = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    vals = [v for v in vals if "val/psnr" in v]
    assert vals and vals[-1]["step"] == 3
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    assert torch.load(ckpt, map_location="cpu", weights_only=True)["global_step"] == 3
    cfg = compose_train(
        ["model=srcnn_915", *fast_overrides(train_dir, val_dir, steps=3)],
        output_dir=tmp_path / "one",
    )
    assert vals[-1]["val/psnr"] == pytest.approx(_validate_single_process(cfg, ckpt), abs=1e-4)
