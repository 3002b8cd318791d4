"""End-to-end training: a few CPU steps on tiny images write checkpoints that reload."""

from __future__ import annotations

import subprocess

import pytest
import torch

from tests.conftest import compose_train, fast_overrides, run_module, write_images


def test_train_writes_best_and_last_checkpoints_that_reload(tmp_path, image_dirs):
    from srlab.checkpoints import load_model
    from srlab.train import train
    from srlab.training.lit_module import SRModule

    out = tmp_path / "run"
    cfg = compose_train(fast_overrides(*image_dirs, steps=4) + ["model=srcnn_915"], output_dir=out)
    metrics = train(cfg)

    assert {"train/loss", "val/psnr", "val/ssim", "val/psnr_bicubic"} <= set(metrics)
    best, last = out / "checkpoints" / "best.ckpt", out / "checkpoints" / "last.ckpt"
    # The logged scores are the protocol's, of the best checkpoint's weights and of bicubic on Y.
    from srlab.data.sources import FolderImages
    from srlab.models.bicubic import Bicubic
    from srlab.protocol.scoring import evaluate_source

    val = FolderImages(image_dirs[1])
    final = evaluate_source(load_model(last).net, val, 3)  # validated at the last step
    assert metrics["val/psnr"] == pytest.approx(final.psnr, abs=1e-4)
    assert metrics["val/ssim"] == pytest.approx(final.ssim, abs=1e-5)
    best_score = evaluate_source(load_model(best).net, val, 3).psnr
    assert metrics["val/psnr_best"] == pytest.approx(best_score, abs=1e-4)
    assert metrics["val/psnr_best"] >= metrics["val/psnr"] - 1e-6
    bicubic = evaluate_source(Bicubic(3, 1), val, 3)
    assert metrics["val/psnr_bicubic"] == pytest.approx(bicubic.psnr, abs=1e-4)
    assert best.is_file() and last.is_file()
    assert (out / "config.yaml").is_file()

    # The checkpoint alone rebuilds the network (weights_only load), and the LightningModule reloads.
    net = load_model(best).net
    assert torch.load(last, map_location="cpu", weights_only=True)["global_step"] == 4
    ckpt = torch.load(best, map_location="cpu", weights_only=True)
    assert ckpt["srlab"]["scale"] == 3 and ckpt["srlab"]["in_channels"] == 1
    state = {k[4:]: v for k, v in ckpt["state_dict"].items() if k.startswith("net.")}
    for k, v in net.state_dict().items():
        torch.testing.assert_close(v, state[k])
    module = SRModule(net=net, net_config=ckpt["srlab"]["net_config"])
    module.load_state_dict(ckpt["state_dict"])
    lr = torch.rand(1, 3, 8, 8)
    assert module.predict_sr(lr).shape == (1, 1, 24, 24)


def test_train_is_reproducible_with_a_seed(tmp_path, image_dirs):
    from srlab.train import train

    losses = []
    for i in range(2):
        cfg = compose_train(
            fast_overrides(*image_dirs, steps=2) + ["seed=7"], output_dir=tmp_path / f"r{i}"
        )
        losses.append(train(cfg)["train/loss"])
    assert losses[0] == pytest.approx(losses[1], rel=1e-6)


def _run_cli(args: list[str], cwd, timeout: int = 300) -> subprocess.CompletedProcess:
    return run_module("srlab.train", args, cwd, timeout, {"SRLAB_DATA_DIR": str(cwd / "nodata")})


def test_div2k_missing_folder_gives_a_short_message(tmp_path):
    proc = _run_cli(["data=div2k", "logger=none"], cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "DIV2K not found" in proc.stderr
    assert "DIV2K_train_HR" in proc.stderr and "paths.data_dir" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) <= 6


def test_multirun_makes_one_run_directory_with_checkpoints_per_job(tmp_path, image_dirs):
    exp = tmp_path / "experiments"
    args = [
        "-m",
        "model=srcnn_915,srcnn",
        f"paths.experiments_dir={exp}",
        *fast_overrides(*image_dirs, steps=2),
    ]
    proc = _run_cli(args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = sorted(p for p in (exp / "multirun").glob("*/*") if p.is_dir())
    # <job number>_<experiment name>_<the swept values> (conf/hydra/default.yaml)
    assert [r.name for r in runs] == [
        "0_srcnn_915_folder_x3_model=srcnn_915",
        "1_srcnn_folder_x3_model=srcnn",
    ]
    for run in runs:
        assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]


def test_run_stopped_by_max_steps_mid_epoch_is_validated_and_checkpointed(tmp_path, image_dirs):
    from srlab.train import train

    out = tmp_path / "run"
    # 40 patches / batch 4 = 10 steps per epoch; stop after 3.
    overrides = fast_overrides(*image_dirs, steps=3) + ["data.patches_per_epoch=40"]
    metrics = train(compose_train(overrides, output_dir=out))
    assert "val/psnr" in metrics
    best = out / "checkpoints" / "best.ckpt"
    assert best.is_file()
    assert torch.load(best, map_location="cpu", weights_only=True)["global_step"] == 3


def test_validation_scores_in_float32_under_mixed_precision(tmp_path, image_dirs):
    """bf16 autocast must not leak into the paper-protocol scores (SR nor bicubic)."""
    from hydra.utils import instantiate

    from srlab.degradations.resize import imresize
    from srlab.protocol.colour import rgb_to_y
    from srlab.protocol.scoring import bicubic_baseline, super_resolve
    from srlab.training.lit_module import SRModule

    cfg = compose_train(fast_overrides(*image_dirs), output_dir=tmp_path / "run")
    module: SRModule = instantiate(cfg.model)
    lr = torch.rand(1, 3, 9, 9)
    reference = module.predict_sr(lr), imresize(rgb_to_y(lr), 3)
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        assert (
            module.predict_sr(lr).dtype == torch.bfloat16
        )  # what autocast does to a plain forward
        scored = super_resolve(module.net, lr), bicubic_baseline(module.net, lr)
    for got, want in zip(scored, reference, strict=True):
        assert got.dtype == torch.float32
        torch.testing.assert_close(got, want)


def test_item09_resume_refuses_another_scale_or_model_and_a_reached_max_steps(tmp_path, image_dirs):
    """Item 9: ckpt= continues a run with its own model and scale (a one-line refusal naming
    init_from= otherwise) and says when max_steps is already reached, leaving the run's files
    alone; init_from= fine-tunes at another scale with the baseline of that scale."""
    import json

    from srlab.checkpoints import CheckpointError
    from srlab.train import train

    base = fast_overrides(*image_dirs, steps=4) + ["model=srcnn_915"]
    first = tmp_path / "x3"
    x3 = train(compose_train(base, output_dir=first))
    last = first / "checkpoints" / "last.ckpt"
    summary_before = (first / "summary.json").read_text()

    refusals = {
        "data.scale=2": "x3 SRCNN model, the config asks for x2",
        "model=fsrcnn": "SRCNN network, the config asks for FSRCNN",
        "model=srcnn": "f2=1 (config: 5)",
        "trainer.max_steps=3": "global step 4 and trainer.max_steps=3: nothing left to train",
        "trainer.max_steps=4": "global step 4 and trainer.max_steps=4: nothing left to train",
    }
    for override, reason in refusals.items():
        out = tmp_path / override.replace("=", "_")
        cfg = compose_train([*base, f"ckpt={last}", override], output_dir=out)
        with pytest.raises(CheckpointError) as info:
            train(cfg)
        message = str(info.value)
        assert reason in message and str(last) in message and "\n" not in message, message
        if "max_steps" not in override:
            assert f"init_from={last}" in message
        assert not (out / "summary.json").exists() and not (out / "checkpoints").exists()
    assert (first / "summary.json").read_text() == summary_before
    # resume=auto on the finished run: idempotent, nothing to do and no error (requeued jobs).
    again = compose_train(  # runs are <experiments_dir>/<experiment_name>/<run>: here tmp_path/x3
        [
            *base,
            "resume=auto",
            f"paths.experiments_dir={tmp_path.parent}",
            f"experiment_name={tmp_path.name}",
        ],
        output_dir=first,
    )
    assert train(again) == {}
    assert (first / "summary.json").read_text() == summary_before

    # Explicit fine-tuning at x2: trains, and its baseline is the x2 one of the same images.
    x2 = train(
        compose_train([*base, f"init_from={last}", "data.scale=2"], output_dir=tmp_path / "x2")
    )
    reference = train(compose_train([*base, "data.scale=2"], output_dir=tmp_path / "x2_fresh"))
    assert x2["val/psnr_bicubic"] == pytest.approx(reference["val/psnr_bicubic"], abs=1e-9)
    assert abs(x2["val/psnr_bicubic"] - x3["val/psnr_bicubic"]) > 1.0
    assert json.loads((tmp_path / "x2" / "summary.json").read_text())["global_step"] == 4


def test_item12_failed_starts_leave_no_run_directory(tmp_path, image_dirs):
    """Item 12: a start that fails (bad value, missing data, bad checkpoint, an error inside the
    trainer before step 1) removes the run directory Hydra made for it; nothing for srlab.report
    to list as an empty row."""
    from srlab.errors import SrlabError, find_user_error
    from srlab.train import train

    exp = tmp_path / "experiments"
    proc = _run_cli(
        [*fast_overrides(*image_dirs), f"paths.experiments_dir={exp}", "data.patch_size=25"],
        cwd=tmp_path,
    )
    assert proc.returncode == 2 and "data.patch_size=25" in proc.stderr, proc.stderr[-2000:]
    assert not exp.exists() or not any(exp.rglob("*")), sorted(exp.rglob("*"))

    bad_ckpt = tmp_path / "bad.ckpt"
    bad_ckpt.write_bytes(b"not a checkpoint")
    tiny, empty = tmp_path / "tiny", tmp_path / "empty"
    write_images(tiny, 2, size=(12, 12), seed=5)  # smaller than the 24 px patches
    empty.mkdir()
    failures = {
        "lr": ["model.optimizer.lr=-0.001"],
        "data": [f"data.val_dir={empty}"],  # a folder without images
        "ckpt": [f"ckpt={bad_ckpt}"],
        "in_trainer": [f"data.train_dir={tiny}"],  # found by the datamodule inside fit()
    }
    for name, extra in failures.items():
        run = exp / "srcnn_folder_x3" / name
        (run / ".hydra").mkdir(parents=True)  # what Hydra writes before srlab starts
        (run / "train.log").write_text("")
        overrides = [*fast_overrides(*image_dirs), f"paths.experiments_dir={exp}", *extra]
        cfg = compose_train(overrides, output_dir=run)
        with pytest.raises(Exception) as info:  # Hydra wraps errors raised while instantiating
            train(cfg)
        assert find_user_error(info.value) is not None, info.value  # printed in one line
        assert not run.exists(), f"{name}: {sorted(p.name for p in run.iterdir())}"
    assert not (exp / "srcnn_folder_x3").exists()  # the experiment folder held only those

    # A run directory that already held a run (resume=auto, ckpt into the same dir) is kept.
    run = exp / "kept"
    (run / "checkpoints").mkdir(parents=True)
    cfg = compose_train([*fast_overrides(*image_dirs), "data.patch_size=25"], output_dir=run)
    with pytest.raises(SrlabError):
        train(cfg)
    assert (run / "checkpoints").is_dir()
