"""Guarded training: a NaN loss stops the run (naming step and checkpoint) or skips the batch."""

from __future__ import annotations

import math

import pytest
import torch

from tests.conftest import compose_train, fast_overrides, run_module


def _cfg(image_dirs, out, poison_steps, *extra, steps=6):
    return compose_train(
        fast_overrides(*image_dirs, steps=steps)
        + [
            "callbacks.periodic_checkpoint.every_n_train_steps=2",
            "data.patches_per_epoch=40",  # one long epoch: no validation checkpoint in the way
            "+callbacks.poison._target_=tests.helper_callbacks.PoisonBatch",
            f"+callbacks.poison.at_steps={list(poison_steps)}",
            *extra,
        ],
        output_dir=out,
    )


def test_nan_loss_stops_naming_the_step_and_the_last_good_checkpoint(tmp_path, image_dirs):
    from srlab.train import train
    from srlab.training.callbacks.guards import NonFiniteLossError

    out = tmp_path / "run"
    with pytest.raises(NonFiniteLossError) as info:
        train(_cfg(image_dirs, out, [3]))
    last = out / "checkpoints" / "last.ckpt"
    message = str(info.value)
    assert message.startswith("train/loss is nan at global step 3 (epoch 0); training stopped")
    assert f"last good checkpoint: {last}" in message
    assert "resume=auto" in message and "callbacks.nonfinite_guard.action=skip" in message
    ckpt = torch.load(last, map_location="cpu", weights_only=True)
    assert ckpt["global_step"] == 2
    assert all(
        torch.isfinite(v).all() for v in ckpt["state_dict"].values() if v.is_floating_point()
    )


def test_nan_loss_before_any_checkpoint_says_so(tmp_path, image_dirs):
    from srlab.train import train
    from srlab.training.callbacks.guards import NonFiniteLossError

    with pytest.raises(NonFiniteLossError, match=r"global step 0 .*no checkpoint was written yet"):
        train(_cfg(image_dirs, tmp_path / "run", [0]))


def test_skip_drops_nan_batches_and_leaves_weights_untouched(tmp_path, image_dirs):
    from srlab.train import train
    from tests.helper_callbacks import PoisonBatch

    metrics = train(
        _cfg(image_dirs, tmp_path / "run", [1, 3], "callbacks.nonfinite_guard.action=skip")
    )
    assert math.isfinite(metrics["train/loss"])
    poison = PoisonBatch.latest
    assert sorted(poison.weights) == [1, 3]
    for before, after in poison.weights.values():
        for key in before:
            torch.testing.assert_close(after[key], before[key], rtol=0, atol=0)
    ckpt = torch.load(
        tmp_path / "run" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True
    )
    assert ckpt["global_step"] == 6
    guard_state = next(
        v for k, v in ckpt["callbacks"].items() if k.startswith("NonFiniteLossGuard")
    )
    assert guard_state == {"skipped_total": 2}
    assert all(
        torch.isfinite(v).all() for v in ckpt["state_dict"].values() if v.is_floating_point()
    )


def test_skip_still_stops_a_diverged_run(tmp_path, image_dirs):
    from srlab.train import train
    from srlab.training.callbacks.guards import NonFiniteLossError

    cfg = _cfg(
        image_dirs,
        tmp_path / "run",
        [0, 1, 2, 3, 4, 5],
        "callbacks.nonfinite_guard.action=skip",
        "callbacks.nonfinite_guard.max_consecutive_skips=2",
    )
    with pytest.raises(
        NonFiniteLossError, match=r"global step 2 .*\(3 non-finite losses in a row\)"
    ):
        train(cfg)


@pytest.mark.slow  # a training subprocess; the in-process tests above check the same message
def test_cli_reports_a_nan_loss_in_one_line(tmp_path, image_dirs):
    args = fast_overrides(*image_dirs, steps=4) + [
        f"hydra.run.dir={tmp_path / 'run'}",
        "+callbacks.poison._target_=tests.helper_callbacks.PoisonBatch",
        "+callbacks.poison.at_steps=[1]",
    ]
    proc = run_module("srlab.train", args, cwd=tmp_path, timeout=300)
    assert proc.returncode == 2, proc.stderr[-3000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("srlab: error:")]
    assert errors == [
        "srlab: error: train/loss is nan at global step 1 (epoch 0); training stopped, no checkpoint "
        "was written yet. Lower model.optimizer.lr or fix the data, then resume with resume=auto, or "
        "set callbacks.nonfinite_guard.action=skip to drop such batches."
    ]
    assert "Traceback" not in proc.stderr
