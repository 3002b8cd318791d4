"""srlab.evaluate ckpt=…: the checkpoint's network beside bicubic, PSNR equal to a hand computation,
tables next to the checkpoint, W&B table offline, clear errors for mismatches."""

from __future__ import annotations

import csv

import pytest
import torch

from tests.checkpoints.test_checkpoints import _write_srcnn_ckpt
from tests.conftest import write_images


def compose_evaluate(overrides, output_dir):
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    from srlab.cli.config import CONFIG_DIR

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("evaluate", overrides=list(overrides), return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(output_dir)
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg


@pytest.fixture
def tiny_sets(tmp_path):
    root = tmp_path / "data"
    write_images(root / "Set5", 3, size=(38, 47), seed=11, grey_every=3)  # one grey image
    write_images(root / "Set14", 2, size=(41, 36), seed=12)
    return root


def _psnr_by_hand(net, folder, scale, in_channels):
    """Paper protocol, written out: mod-crop, bicubic x1/s, uint8 LR, Y (or grey), uint8 SR, shave."""
    import numpy as np
    from PIL import Image

    from srlab.degradations.resize import imresize
    from srlab.protocol.colour import rgb_to_y

    values = []
    for path in sorted(folder.glob("*.png")):
        hr = torch.from_numpy(np.asarray(Image.open(path))).float() / 255
        hr = hr[..., None] if hr.dim() == 2 else hr
        hr = hr.permute(2, 0, 1)[None]
        h, w = hr.shape[-2:]
        hr = hr[..., : h - h % scale, : w - w % scale]
        lr = torch.floor(imresize(hr, 1 / scale).clamp(0, 1) * 255 + 0.5) / 255
        grey = hr.shape[1] == 1
        lr_in = lr if (grey or in_channels == 3) else rgb_to_y(lr)
        if in_channels == 3 and grey:
            lr_in = lr.expand(-1, 3, -1, -1)
        with torch.no_grad():
            sr = net(lr_in).double()
        sr = torch.floor(sr.clamp(0, 1) * 255 + 0.5) / 255
        if sr.shape[1] == 3:
            sr = sr.mean(1, keepdim=True) if grey else rgb_to_y(sr)
        ref = hr.double() if grey else rgb_to_y(hr.double())
        diff = (sr - ref)[..., scale:-scale, scale:-scale] * 255
        values.append(10 * torch.log10(255**2 / diff.pow(2).mean()).item())
    return sum(values) / len(values)


def test_evaluate_checkpoint_matches_hand_computed_psnr_and_writes_tables(tmp_path, tiny_sets):
    from srlab.evaluate import evaluate
    from srlab.models.bicubic import Bicubic

    run = tmp_path / "exp" / "srcnn_x2" / "2026-01-01_00-00-00"
    net = _write_srcnn_ckpt(run / "checkpoints" / "best.ckpt", scale=2, in_channels=1).eval()
    cfg = compose_evaluate(
        [
            f"ckpt={run}",
            f"paths.data_dir={tiny_sets}",
            "data.sets=[Set5,Set14]",
            "device=cpu",
            "per_image=true",
        ],
        tmp_path / "out",
    )
    rows = evaluate(cfg)
    assert [(r["model"], r["dataset"], r["scale"]) for r in rows] == [
        ("SRCNN (2026-01-01_00-00-00/best)", "Set5", 2),
        ("bicubic (Y)", "Set5", 2),
        ("SRCNN (2026-01-01_00-00-00/best)", "Set14", 2),
        ("bicubic (Y)", "Set14", 2),
    ]
    for r in rows:
        # The bicubic row is the model's own baseline: bicubic of the same LR, on Y like the model.
        model = net if r["model"] != "bicubic (Y)" else Bicubic(2, 1)
        channels = 1
        want = _psnr_by_hand(model, tiny_sets / r["dataset"], 2, channels)
        assert r["psnr"] == pytest.approx(want, abs=1e-6)

    ckpt_dir = run / "checkpoints"
    table = (ckpt_dir / "best_eval.md").read_text().splitlines()
    assert table[0] == "| Model | Dataset | x2 PSNR / SSIM |" and len(table) == 6
    with open(ckpt_dir / "best_eval.csv") as f:
        summary = list(csv.DictReader(f))
    assert [s["model"] for s in summary] == [r["model"] for r in rows]
    assert float(summary[0]["psnr"]) == pytest.approx(rows[0]["psnr"])
    with open(ckpt_dir / "best_eval_per_image.csv") as f:
        per_image = list(csv.DictReader(f))
    assert len(per_image) == 2 * (3 + 2) and per_image[0]["image"] == "img_000"


def test_evaluate_bundled_rgb_model_and_wandb_table_offline(tmp_path, tiny_sets, monkeypatch):
    """An RGB checkpoint (grey images fed as 3 equal channels), and logger=wandb writes a table."""
    from srlab.evaluate import evaluate
    from srlab.models.bicubic import Bicubic

    ckpt = tmp_path / "rgb.ckpt"
    net = _write_srcnn_ckpt(ckpt, scale=3, in_channels=3).eval()
    out = tmp_path / "out"
    cfg = compose_evaluate(
        [
            f"ckpt={ckpt}",
            f"paths.data_dir={tiny_sets}",
            "data.sets=[Set5]",
            "data.scales=[3]",
            "device=cpu",
            "logger=wandb",
            "model_name=rgb_net",
        ],
        out,
    )
    rows = evaluate(cfg)
    assert [r["model"] for r in rows] == ["rgb_net", "bicubic (RGB)"]
    assert rows[0]["psnr"] == pytest.approx(_psnr_by_hand(net, tiny_sets / "Set5", 3, 3), abs=1e-6)
    assert rows[1]["psnr"] == pytest.approx(
        _psnr_by_hand(Bicubic(3, 3), tiny_sets / "Set5", 3, 3), abs=1e-6
    )
    assert (tmp_path / "rgb_eval.csv").is_file()
    tables = list(out.glob("wandb/offline-run-*/files/media/table/eval/results_*.table.json"))
    assert tables, sorted(str(p) for p in out.rglob("*"))[:40]


def test_checkpoint_scale_or_model_mismatch_is_a_clear_error(tmp_path, tiny_sets):
    from srlab.checkpoints import CheckpointError
    from srlab.evaluate import evaluate

    ckpt = tmp_path / "x2.ckpt"
    _write_srcnn_ckpt(ckpt, scale=2, in_channels=1, f2=1)
    common = [f"ckpt={ckpt}", f"paths.data_dir={tiny_sets}", "data.sets=[Set5]", "device=cpu"]
    with pytest.raises(CheckpointError, match="x2 SRCNN model, but scale=3"):
        evaluate(compose_evaluate([*common, "data.scales=[2,3]"], tmp_path / "o1"))
    with pytest.raises(CheckpointError, match=r"f2=1 \(requested 5\)"):
        evaluate(compose_evaluate([*common, "model=srcnn"], tmp_path / "o2"))
    # A bundled name is found too (and the bundled file is never written next to).
    rows = evaluate(
        compose_evaluate(
            [
                "ckpt=srcnn_x3",
                f"paths.data_dir={tiny_sets}",
                "data.sets=[Set14]",
                "device=cpu",
            ],
            tmp_path / "o3",
        )
    )
    assert rows[0]["model"] == "srcnn_x3" and rows[0]["scale"] == 3
    assert (tmp_path / "o3" / "srcnn_x3_eval.md").is_file()


def test_bicubic_through_evaluate_prints_published_set5_set14(shared_data, tmp_path, capsys):
    """The acceptance check: bicubic via srlab.evaluate gives the published figures (x3)."""
    from srlab.evaluate import evaluate

    rows = evaluate(
        compose_evaluate(
            [
                "model=bicubic",
                f"paths.data_dir={shared_data}",
                "data.sets=[Set5,Set14]",
                "data.scales=[3]",
                "device=cpu",
                "save=false",
            ],
            tmp_path / "out",
        )
    )
    published = {"Set5": (30.39, 0.8682), "Set14": (27.55, 0.7742)}
    for r in rows:
        psnr, ssim = published[r["dataset"]]
        assert abs(r["psnr"] - psnr) < 0.03 and abs(r["ssim"] - ssim) < 0.002
    printed = capsys.readouterr().out  # within 0.01-0.02 dB: srlab keeps Y float (metrics doc)
    for r in rows:
        assert f"| bicubic | {r['dataset']} | {r['psnr']:.2f} / {r['ssim']:.4f} |" in printed


def test_item12_evaluate_keeps_earlier_tables_and_leaves_no_stray_folder(tmp_path, tiny_sets):
    """Item 12: a second evaluation of a checkpoint writes <stem>_eval-2.md/.csv (and says so)
    instead of overwriting the first; no evaluate_<model>/ run folder is left behind."""
    from tests.conftest import run_module

    run = tmp_path / "run"
    _write_srcnn_ckpt(run / "checkpoints" / "best.ckpt", scale=2)
    exp = tmp_path / "experiments"
    args = [
        f"ckpt={run}",
        f"paths.data_dir={tiny_sets}",
        f"paths.experiments_dir={exp}",
        "data.sets=[Set14]",
        "device=cpu",
    ]
    first = run_module("srlab.evaluate", args, cwd=tmp_path, timeout=120)
    assert first.returncode == 0, first.stderr[-2000:]
    ckpt_dir = run / "checkpoints"
    assert f"results in {ckpt_dir / 'best_eval'}.{{md,csv}}" in first.stdout
    (ckpt_dir / "best_eval.md").write_text("an earlier evaluation\n")
    second = run_module("srlab.evaluate", [*args, "data.sets=[Set5]"], cwd=tmp_path, timeout=120)
    assert second.returncode == 0, second.stderr[-2000:]
    assert "best_eval-2" in second.stdout and "best_eval.md of an earlier evaluation is kept" in (
        second.stdout
    )
    assert (ckpt_dir / "best_eval.md").read_text() == "an earlier evaluation\n"
    assert "Set5" in (ckpt_dir / "best_eval-2.md").read_text()
    assert "Set14" in (ckpt_dir / "best_eval.csv").read_text()
    assert "Set5" in (ckpt_dir / "best_eval-2.csv").read_text()
    assert not exp.exists() or not any(exp.iterdir()), sorted(exp.rglob("*"))


def test_item10_one_bicubic_baseline_labelled_with_its_definition(tmp_path, capsys):
    """Item 10: validation's val/psnr_bicubic and evaluate's bicubic row are the same quantity
    (the same LR upsampled by bicubic in the model's colour mode), labelled `bicubic (Y)` or
    `bicubic (RGB)` wherever they are printed."""
    from srlab.evaluate import evaluate
    from srlab.protocol.scoring import evaluate_source
    from srlab.train import train
    from tests.conftest import compose_train, fast_overrides

    data = tmp_path / "data"
    write_images(data / "train", 4, size=(48, 48), seed=1)
    write_images(data / "Set5", 3, size=(45, 51), seed=2, grey_every=3)
    run = tmp_path / "run"
    metrics = train(
        compose_train(
            [*fast_overrides(data / "train", data / "Set5", steps=2), "model=srcnn_915"],
            output_dir=run,
        )
    )
    assert "bicubic : " in (out := capsys.readouterr().out) and "(bicubic (Y)" in out

    rows = evaluate(
        compose_evaluate(
            [f"ckpt={run}", f"paths.data_dir={data}", "data.sets=[Set5]", "device=cpu"],
            tmp_path / "eval",
        )
    )
    assert "| bicubic (Y) | Set5 |" in capsys.readouterr().out
    model_row, bicubic_row = rows
    assert bicubic_row["model"] == "bicubic (Y)"
    assert bicubic_row["psnr"] == pytest.approx(metrics["val/psnr_bicubic"], abs=1e-4)
    assert model_row["psnr"] == pytest.approx(metrics["val/psnr_best"], abs=1e-4)

    # An RGB network's baseline upsamples RGB and says so.
    from srlab.data.sources import BenchmarkSet
    from srlab.models.bicubic import Bicubic

    _, rgb = evaluate_source(Bicubic(3, 3), BenchmarkSet(data, "Set5"), 3, bicubic=True)
    assert rgb.model == "bicubic (RGB)"
