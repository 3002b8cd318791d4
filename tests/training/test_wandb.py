"""W&B offline: a sweep's runs share a group; panels, per-image table and summary are logged."""

from __future__ import annotations

import json

import pytest
import torch

from tests.conftest import compose_train, fast_overrides, run_module
from tests.wandb_records import run_info


def test_y_output_with_guide_chroma_inverts_bt601_luma():
    from srlab.protocol.colour import rgb_to_y, to_image_space

    rgb = torch.rand(2, 3, 8, 9, dtype=torch.float64) * 0.8 + 0.1
    torch.testing.assert_close(to_image_space(rgb_to_y(rgb), 3, rgb), rgb)
    # Brighter luma, same chroma: every channel goes up.
    brighter = to_image_space(rgb_to_y(rgb) + 0.02, 3, rgb)
    assert bool((brighter > rgb).all())


def test_panel_shows_bicubic_sr_hr_crops_of_the_fixed_image(tmp_path, image_dirs):
    from hydra.utils import instantiate

    from srlab.training.callbacks.wandb_panels import WandbPanels

    cfg = compose_train(
        fast_overrides(*image_dirs) + ["model.net.in_channels=3"], output_dir=tmp_path
    )
    datamodule = instantiate(cfg.data, degradation=instantiate(cfg.degradation))
    datamodule.setup("validate")
    module = instantiate(cfg.model).eval()
    callback = WandbPanels(image_index=0, crop_size=30)
    image, caption = callback.panel(module, datamodule)
    hr = datamodule.val_set[0]["hr"]  # (3, 45, 51) uint8 after mod-crop
    assert image.dtype.name == "uint8" and image.shape == (30, 3 * 30 + 4, 3)
    y0, x0 = (hr.shape[1] - 30) // 2, (hr.shape[2] - 30) // 2
    assert (image[:, -30:] == hr[:, y0 : y0 + 30, x0 : x0 + 30].permute(1, 2, 0).numpy()).all()
    assert caption.startswith("img_000: bicubic") and "dB" in caption
    # Same LR every call: the panel of fixed weights does not change between validations.
    again, _ = callback.panel(module, datamodule)
    assert (again == image).all()


def test_two_job_multirun_gives_two_offline_runs_in_one_group_and_a_report(tmp_path, image_dirs):
    exp = tmp_path / "experiments"
    args = [
        "-m",
        "model=srcnn_915",
        "model.optimizer.lr=0.001,0.0003",
        f"paths.experiments_dir={exp}",
        *[o for o in fast_overrides(*image_dirs, steps=4) if o != "logger=none"],
        "logger=wandb",
    ]
    proc = run_module("srlab.train", args, cwd=tmp_path, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (sweep,) = (exp / "multirun").iterdir()
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir())
    # Job folders say what differs between them: <job>_<experiment>_<swept values>.
    assert [j.name for j in jobs] == [
        "0_srcnn_915_folder_x3_lr=0.001",
        "1_srcnn_915_folder_x3_lr=0.0003",
    ]

    infos = []
    for job in jobs:  # each job has its own offline run, closed (wandb.finish) before the next
        (folder,) = (job / "wandb").glob("offline-run-*")
        infos.append(run_info(folder))
    assert infos[0]["group"] == infos[1]["group"] == f"multirun-{sweep.name}"
    # Model, scale and the swept value; not the fixed overrides (batch size, steps, …).
    assert [i["name"] for i in infos] == ["srcnn_915_x3 lr=0.001", "srcnn_915_x3 lr=0.0003"]
    for info, job in zip(infos, jobs, strict=True):
        assert {"sweep", info["group"]} <= set(info["tags"])
        assert info["config"]["model"]["net"]["f2"] == 1  # the resolved config is the run config
        assert info["config"]["data"]["batch_size"] == 4
        summary = info["summary"]
        assert summary["best_checkpoint"] == str(job / "checkpoints" / "best.ckpt")
        assert summary["val/psnr_best"] == pytest.approx(
            json.loads((job / "summary.json").read_text())["best_val_psnr"], abs=1e-5
        )
        assert {"val/psnr", "val/ssim", "val/psnr_best", "val/panel/_type"} <= info["history_keys"]
        panels = list(job.glob("wandb/offline-run-*/files/media/images/val/panel_*.png"))
        assert len(panels) == 2  # one per validation (2 epochs of 2 steps)
        # The per-image table is the best checkpoint's: its mean is the best val PSNR.
        (table_file,) = job.glob("wandb/offline-run-*/files/media/table/val/per_image_*.table.json")
        table = json.loads(table_file.read_text())
        psnr = [row[table["columns"].index("psnr")] for row in table["data"]]
        assert len(psnr) == 2 and sum(psnr) / 2 == pytest.approx(summary["val/psnr_best"], abs=1e-4)

    from srlab.report import report

    md_path, png_path, runs = report(sweep)
    rows = [
        line
        for line in md_path.read_text().splitlines()
        if line.startswith("| ") and line[2].isdigit()
    ]
    assert len(rows) == 2 and png_path.is_file()
    assert {r.label for r in runs} == {j.name for j in jobs}


def test_item01_summary_records_last_checkpoint(tmp_path, image_dirs, monkeypatch):
    """Item 1: summary.json and the W&B summary name last.ckpt (written by the periodic
    checkpoint callback, not the best one), and last.ckpt holds the final step."""
    from srlab.train import train

    monkeypatch.setenv("WANDB_MODE", "offline")
    out = tmp_path / "run"
    overrides = [o for o in fast_overrides(*image_dirs, steps=6) if o != "logger=none"] + [
        "logger=wandb",
        "data.patches_per_epoch=400",  # one long epoch: validation only at the last step
        "callbacks.periodic_checkpoint.every_n_train_steps=4",  # a periodic save at step 4
    ]
    train(compose_train(overrides, output_dir=out))

    last, best = out / "checkpoints" / "last.ckpt", out / "checkpoints" / "best.ckpt"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["last_model_path"] == str(last)
    assert summary["best_model_path"] == str(best)
    # The run ended at step 6 after a periodic save at step 4: last.ckpt is the final state.
    assert torch.load(last, map_location="cpu", weights_only=True)["global_step"] == 6
    (folder,) = (out / "wandb").glob("offline-run-*")
    wandb_summary = run_info(folder)["summary"]
    assert wandb_summary["last_checkpoint"] == str(last)
    assert wandb_summary["best_checkpoint"] == str(best)
