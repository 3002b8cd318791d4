"""srlab.report: a sweep's runs -> a markdown table sorted by PSNR and a PSNR-vs-step plot."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO_ROOT


def _job(sweep: Path, name: str, overrides: list[str]) -> Path:
    job = sweep / name
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    return job


def _metrics_log(
    job: Path, curve: list[tuple[int, float, float]], wall: float, status="finished"
) -> None:
    lines, best = [], None
    for step, psnr, ssim in curve:
        lines.append({"step": step - 1, "epoch": 0, "wall_s": 0.1, "train/loss": 0.01})
        best = max(best or psnr, psnr)
        lines.append(
            {
                "step": step,
                "epoch": 0,
                "wall_s": wall * step / curve[-1][0],
                "val/psnr": psnr,
                "val/ssim": ssim,
                "val/psnr_bicubic": 30.0,
                "val/psnr_best": best,
            }
        )
    (job / "metrics.jsonl").write_text(
        "".join(json.dumps(x) + "\n" for x in lines) + '{"step": 9'
    )  # cut short
    ckpt = job / "checkpoints" / "best.ckpt"
    ckpt.parent.mkdir()
    ckpt.write_bytes(b"")
    top = max(curve, key=lambda c: c[1])
    (job / "summary.json").write_text(
        json.dumps(
            {
                "status": status,
                "best_val_psnr": top[1],
                "best_val_ssim": top[2],
                "best_step": top[0],
                "val_psnr_bicubic": 30.0,
                "global_step": curve[-1][0],
                "wall_s": wall,
                "best_model_path": str(ckpt),
                "last_model_path": None,
            }
        )
    )


@pytest.fixture
def sweep(tmp_path) -> Path:
    """A 4-job sweep: two with srlab's metrics log, one with only a CSV logger, one that never validated."""
    sweep = tmp_path / "multirun" / "2026-01-31_12-00-00"
    common = ["data=folder", "data.scale=3"]
    _metrics_log(
        _job(sweep, "0_srcnn_915", ["model=srcnn_915", *common]),
        [(100, 31.0, 0.88), (200, 31.5, 0.89), (300, 31.4, 0.90)],
        wall=75,
    )
    _metrics_log(
        _job(sweep, "1_srcnn", ["model=srcnn", *common]),
        [(100, 31.2, 0.88), (200, 32.1, 0.91), (300, 32.4, 0.92)],
        wall=3725,
    )
    csv_job = _job(sweep, "2_srcnn_935", ["model=srcnn_935", *common])
    (csv_job / "csv").mkdir()
    (csv_job / "csv" / "metrics.csv").write_text(
        "epoch,step,train/loss,val/psnr,val/psnr_bicubic,val/ssim\n"
        "0,49,0.02,,,\n0,99,,31.9,30.0,0.905\n0,149,0.01,,,\n0,199,,31.7,30.0,0.900\n"
    )
    _job(sweep, "3_srcnn_lr", ["model=srcnn", "model.optimizer.lr=1.0", *common])  # failed start
    (sweep / "multirun.yaml").write_text("hydra: {}\n")
    return sweep


def test_report_table_is_sorted_by_psnr_with_the_varying_overrides(sweep):
    from srlab.report import report

    md_path, png_path, runs = report(sweep)
    text = md_path.read_text()
    assert "Common overrides: `data=folder` `data.scale=3`" in text
    rows = [
        line.split(" | ")
        for line in text.splitlines()
        if line.startswith("| ") and line[2].isdigit()
    ]
    assert [r[1] for r in rows] == ["1_srcnn", "2_srcnn_935", "0_srcnn_915"]
    best = rows[0]
    assert best[2] == "`model=srcnn`" and best[3] == "32.400" and best[4] == "0.9200"
    assert best[5] == "30.000" and best[6] == "300" and best[7] == "300" and best[8] == "1:02:05"
    assert best[9].startswith("1_srcnn/checkpoints/best.ckpt")
    assert rows[1][3] == "31.900" and rows[1][6] == "99"  # from the CSV logger's file
    assert rows[2][8] == "1:15"
    assert png_path == sweep / "val_psnr.png"


def test_report_plot_has_one_line_per_run_with_history(sweep):
    """Count the runs' line colours (matplotlib's tab10 cycle) in the rendered PNG."""
    from PIL import Image

    from srlab.report import report

    _, png_path, runs = report(sweep)
    pixels = np.asarray(Image.open(png_path).convert("RGB")).reshape(-1, 3).astype(int)
    tab10 = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"]
    present = []
    for colour in tab10:
        rgb = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])
        present.append(int((np.abs(pixels - rgb).sum(axis=1) < 30).sum()) > 200)
    with_history = sum(bool(r.history) for r in runs)
    assert with_history == 3
    assert present[:with_history] == [True] * with_history and not any(present[with_history:])


def test_report_cli_prints_the_table_and_fails_cleanly_without_runs(sweep, tmp_path):
    env = {"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"}
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "srlab.report", str(sweep), "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (
        "| 1 | 1_srcnn |" in proc.stdout
        and (out / "report.md").is_file()
        and (out / "val_psnr.png").is_file()
    )

    empty = tmp_path / "empty"
    empty.mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "srlab.report", str(empty)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert (
        proc.returncode == 2 and "no runs found" in proc.stderr and "Traceback" not in proc.stderr
    )


def test_resumed_run_records_supersede_the_crashed_attempt(tmp_path):
    import json

    from srlab.report import Run, _read_jsonl

    lines = [
        {"step": 10, "val/psnr": 20.0, "val/ssim": 0.5},
        {
            "step": 20,
            "val/psnr": 21.0,
            "val/ssim": 0.6,
        },  # crashed attempt, after the checkpoint at 10
        {"step": 20, "val/psnr": 20.5, "val/ssim": 0.55},  # resumed attempt re-does step 20
        {"step": 30, "val/psnr": 20.8, "val/ssim": 0.58},
    ]
    path = tmp_path / "metrics.jsonl"
    path.write_text("\n".join(json.dumps(rec) for rec in lines) + "\n")
    run = Run(path=tmp_path, overrides=[])
    _read_jsonl(run, path)
    assert run.history == [(10, 20.0), (20, 20.5), (30, 20.8)]
    assert (run.best_psnr, run.best_step, run.steps) == (20.8, 30, 30)


def test_report_plots_validation_psnr_against_wall_time(tmp_path):
    from srlab.report import find_runs, plot, report

    sweep = tmp_path / "sweep"
    _metrics_log(_job(sweep, "0_a", ["model=srcnn"]), [(100, 30.5, 0.8), (200, 31.0, 0.81)], 60.0)
    runs = find_runs(sweep)
    assert runs[0].wall and all(w > 0 for _, w in runs[0].wall)
    _, png, _ = report(sweep, x="time")
    assert png.is_file()
    with pytest.raises(ValueError, match="x must be 'step' or 'time'"):
        plot(runs, tmp_path / "x.png", "t", x="epoch")


def test_item12_report_leaves_out_runs_that_recorded_nothing(sweep, tmp_path):
    """Item 12: a run folder with no metrics at all (a failed start) is not a row of "–"; it is
    named under the table. A run that trained but never validated is still a row."""
    from srlab.report import report

    trained = _job(sweep, "4_srcnn_no_val", ["model=srcnn", "data.scale=3", "data=folder"])
    (trained / "metrics.jsonl").write_text('{"step": 50, "epoch": 0, "train/loss": 0.01}\n')
    md_path, _, runs = report(sweep)
    text = md_path.read_text()
    labels = [
        line.split(" | ")[1]
        for line in text.splitlines()
        if line.startswith("| ") and line[2].isdigit()
    ]
    assert "3_srcnn_lr" not in labels and "4_srcnn_no_val" in labels and len(labels) == 4
    assert "Left out: 1 run folder(s) without any metrics" in text and "`3_srcnn_lr`" in text
    assert {r.label for r in runs} == set(labels)

    only_failed = tmp_path / "failed_sweep"
    _job(only_failed, "0_bad", ["data.patch_size=25"])
    with pytest.raises(Exception, match="none of its 1 run folder"):
        report(only_failed)
