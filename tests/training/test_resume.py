"""Resume after a crash: SIGKILL a training process, ``resume=auto``, same weights as never stopping."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.conftest import (
    REPO_ROOT,
    compose_train,
    fast_overrides,
    run_module,
    save_srlab_checkpoint,
)

STEPS_PER_EPOCH = 4  # patches_per_epoch / batch_size
MAX_STEPS = 12


def _overrides(image_dirs, experiments: Path) -> list[str]:
    return fast_overrides(*image_dirs, steps=MAX_STEPS) + [
        "model=srcnn_915",
        f"paths.experiments_dir={experiments}",
        "experiment_name=resume_test",
        "data.batch_size=2",
        f"data.patches_per_epoch={2 * STEPS_PER_EPOCH}",
        # A periodic checkpoint at every epoch boundary: the resumed run is then exact.
        f"callbacks.periodic_checkpoint.every_n_train_steps={STEPS_PER_EPOCH}",
        "trainer.deterministic=true",
        "torch_threads=1",
        "seed=123",
    ]


def _recorder(path: Path, sleep_s: float) -> list[str]:
    return [
        "+callbacks.recorder._target_=tests.helper_callbacks.StepRecorder",
        f"+callbacks.recorder.path={path}",
        f"+callbacks.recorder.sleep_s={sleep_s}",
    ]


def _extra_env(cwd: Path) -> dict[str, str]:
    return {"SRLAB_DATA_DIR": str(cwd / "nodata")}


def _steps(path: Path) -> list[int]:
    return [int(s) for s in path.read_text().split()] if path.is_file() else []


def _wait_for(predicate, proc: subprocess.Popen, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            pytest.fail(f"training exited ({proc.returncode}) before {what}:\n{out[-3000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_sigkill_then_resume_auto_continues_and_matches_an_uninterrupted_run(tmp_path, image_dirs):
    experiments = tmp_path / "experiments"
    args = _overrides(image_dirs, experiments)

    # 1. Train slowly in a subprocess; SIGKILL it in the second epoch, after the first checkpoint.
    killed_steps = tmp_path / "killed_steps.txt"
    proc = subprocess.Popen(
        [sys.executable, "-m", "srlab.train", *args, *_recorder(killed_steps, 0.4)],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT), **_extra_env(tmp_path)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _wait_for(lambda: STEPS_PER_EPOCH + 2 in _steps(killed_steps), proc, 240, "step 6")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    runs = [p for p in (experiments / "resume_test").iterdir() if p.is_dir()]
    assert len(runs) == 1
    run = runs[0]
    last = run / "checkpoints" / "last.ckpt"
    assert torch.load(last, map_location="cpu", weights_only=True)["global_step"] == STEPS_PER_EPOCH
    assert max(_steps(killed_steps)) < 2 * STEPS_PER_EPOCH  # killed before the next checkpoint

    # 2. resume=auto continues the same run directory from step 4, not from 0.
    resumed_steps = tmp_path / "resumed_steps.txt"
    proc2 = run_module(
        "srlab.train",
        [*args, "resume=auto", *_recorder(resumed_steps, 0)],
        cwd=tmp_path,
        timeout=300,
        env=_extra_env(tmp_path),
    )
    assert proc2.returncode == 0, proc2.stderr[-3000:]
    assert f"resuming from {last} at global step {STEPS_PER_EPOCH}" in proc2.stdout
    assert _steps(resumed_steps) == list(range(STEPS_PER_EPOCH + 1, MAX_STEPS + 1))
    assert [p for p in (experiments / "resume_test").iterdir() if p.is_dir()] == [run]
    resumed = torch.load(last, map_location="cpu", weights_only=True)
    assert resumed["global_step"] == MAX_STEPS

    # 3. An uninterrupted run with the same seed ends with the same weights and optimizer state.
    from srlab.train import train

    ref_dir = tmp_path / "reference"
    train(compose_train(args, output_dir=ref_dir))
    reference = torch.load(
        ref_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True
    )
    assert reference["global_step"] == MAX_STEPS
    assert resumed["state_dict"].keys() == reference["state_dict"].keys()
    for key, value in reference["state_dict"].items():
        torch.testing.assert_close(resumed["state_dict"][key], value, rtol=1e-5, atol=1e-6, msg=key)
    ref_opt, res_opt = (
        reference["optimizer_states"][0]["state"],
        resumed["optimizer_states"][0]["state"],
    )
    for index, state in ref_opt.items():
        for name, value in state.items():
            torch.testing.assert_close(res_opt[index][name], value, rtol=1e-5, atol=1e-6)


def test_resume_auto_picks_the_run_with_the_newest_last_ckpt(tmp_path):
    from srlab.training.resume import latest_resumable_run, run_dir

    exp = tmp_path / "exp" / "srcnn_folder_x3"
    assert latest_resumable_run(tmp_path / "exp", "srcnn_folder_x3") is None
    assert run_dir(str(exp), "2030-01-01_00-00-00", "auto") == f"{exp}/2030-01-01_00-00-00"  # fresh
    for name, mtime in (
        ("2024-01-01_00-00-00", 300),
        ("2024-02-01_00-00-00", 200),
        ("2024-03-01_00-00-00", None),
    ):
        (exp / name / "checkpoints").mkdir(parents=True)
        if mtime is not None:  # the newest run has no last.ckpt yet (crashed before the first one)
            ckpt = exp / name / "checkpoints" / "last.ckpt"
            ckpt.write_bytes(b"x")
            os.utime(ckpt, (mtime, mtime))
    assert latest_resumable_run(tmp_path / "exp", "srcnn_folder_x3") == exp / "2024-01-01_00-00-00"
    assert run_dir(str(exp), "2030-01-01_00-00-00", "auto") == str(exp / "2024-01-01_00-00-00")
    assert run_dir(str(exp), "2030-01-01_00-00-00", None) == f"{exp}/2030-01-01_00-00-00"


def test_resume_auto_sets_up_loggers_to_continue(tmp_path, image_dirs):
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from srlab.train import _resume_checkpoint
    from srlab.training.resume import write_wandb_id

    experiments = tmp_path / "experiments"
    run = experiments / "exp" / "2024-01-01_00-00-00"
    (run / "checkpoints").mkdir(parents=True)
    net_config = OmegaConf.to_container(compose_train(fast_overrides(*image_dirs)).model.net)
    net_config["scale"] = 3
    net = instantiate(net_config)
    save_srlab_checkpoint(run / "checkpoints" / "last.ckpt", net, net_config, global_step=7)
    write_wandb_id(run, "abc123xy")
    for logger in ("wandb", "csv"):
        cfg = compose_train(
            fast_overrides(*image_dirs, steps=10)
            + [
                f"logger={logger}",
                f"paths.experiments_dir={experiments}",
                "experiment_name=exp",
                "resume=auto",
            ],
            output_dir=run,
        )
        assert _resume_checkpoint(cfg, str(run)) == str(run / "checkpoints" / "last.ckpt")
        if logger == "wandb":  # same W&B run: the curve continues
            assert (cfg.logger.wandb.id, cfg.logger.wandb.resume) == ("abc123xy", "allow")
        else:  # CSVLogger would delete the first attempt's metrics.csv: a sub-folder per attempt
            assert cfg.logger.csv.version == "resumed_at_step_7"


@pytest.mark.slow  # two offline W&B runs (~15 s); test_resume_auto_sets_up_loggers_to_continue is the fast check
def test_resume_auto_continues_the_same_wandb_run(tmp_path, image_dirs, monkeypatch):
    from srlab.train import train
    from srlab.training.resume import WANDB_ID_FILE

    monkeypatch.setenv("WANDB_MODE", "offline")
    experiments = tmp_path / "experiments"
    run = experiments / "wb" / "2024-01-01_00-00-00"
    base = fast_overrides(*image_dirs, steps=2) + [
        "logger=wandb",
        f"paths.experiments_dir={experiments}",
        "experiment_name=wb",
    ]
    train(compose_train(base, output_dir=run))
    run_id = (run / WANDB_ID_FILE).read_text().strip()
    assert run_id
    # An offline W&B attempt is stored in offline-run-<YYYYmmdd_HHMMSS>-<id>: a second attempt of
    # the same run id started within the same second shares the first one's folder. Two steps
    # take about a second here, so the test sometimes found one folder; wait for the next second.
    (first,) = (run / "wandb").glob("offline-run-*")
    stamp = first.name.split("-")[2]

    def same_second(t: float) -> bool:  # in local time or UTC, whichever W&B names folders in
        return stamp in {
            time.strftime("%Y%m%d_%H%M%S", f(t)) for f in (time.localtime, time.gmtime)
        }

    while same_second(time.time()):  # at most one second
        time.sleep(0.05)

    train(compose_train([*base, "trainer.max_steps=4", "resume=auto"], output_dir=run))
    assert (run / WANDB_ID_FILE).read_text().strip() == run_id
    offline_runs = sorted(p.name for p in (run / "wandb").glob("offline-run-*"))
    assert len(offline_runs) == 2 and all(name.endswith(f"-{run_id}") for name in offline_runs)
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 4


def test_resume_auto_without_an_earlier_run_starts_fresh(tmp_path, image_dirs, capsys):
    from srlab.train import train

    run = tmp_path / "experiments" / "fresh" / "2024-01-01_00-00-00"
    cfg = compose_train(
        fast_overrides(*image_dirs, steps=2)
        + [
            f"paths.experiments_dir={tmp_path / 'experiments'}",
            "experiment_name=fresh",
            "resume=auto",
        ],
        output_dir=run,
    )
    train(cfg)
    assert "resuming" not in capsys.readouterr().out
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 2


def test_training_state_roundtrips_rng_and_the_datamodule_generator():
    import random
    from types import SimpleNamespace

    import numpy as np

    from srlab.training.callbacks.checkpoint import TrainingStateCheckpoint

    datamodule = SimpleNamespace(_train_generator=torch.Generator().manual_seed(5))
    torch.rand(3, generator=datamodule._train_generator)
    trainer = SimpleNamespace(datamodule=datamodule, global_rank=0)
    callback = TrainingStateCheckpoint()
    callback.setup(trainer, None, "fit")
    state = torch.load(
        _roundtrip(callback.state_dict()), weights_only=True
    )  # checkpoint-safe types
    expected = (
        torch.rand(4),
        np.random.rand(4),
        [random.random() for _ in range(4)],
        torch.rand(4, generator=datamodule._train_generator),
    )

    torch.manual_seed(99), np.random.seed(99), random.seed(99)
    datamodule._train_generator = torch.Generator().manual_seed(99)
    restored = TrainingStateCheckpoint()
    restored.setup(trainer, None, "fit")
    restored.load_state_dict(state)
    restored.on_train_start(trainer, SimpleNamespace(device=torch.device("cpu")))
    torch.testing.assert_close(torch.rand(4), expected[0])
    np.testing.assert_array_equal(np.random.rand(4), expected[1])
    assert [random.random() for _ in range(4)] == expected[2]
    torch.testing.assert_close(torch.rand(4, generator=datamodule._train_generator), expected[3])


def _roundtrip(obj):
    import io

    buf = io.BytesIO()
    torch.save(obj, buf)
    buf.seek(0)
    return buf
