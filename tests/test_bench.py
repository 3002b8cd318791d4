"""``python -m srlab.bench``: every section runs at a tiny size and BENCHMARKS.md gets every row.

No timing is asserted (a loaded machine would fail it): only that each measurement ran and landed
in the table, and that the headline lines come out.
"""

from __future__ import annotations

import pytest

from tests.conftest import fast_overrides

TINY = [
    "warmup=1",
    "window=1",
    "repeats=2",
    "training.models=[srcnn_915]",
    "training.settings=[{precision: 32-true},{precision: bf16-mixed, channels_last: true}]",
    'training.variants=[["data.batch_size=2"]]',
    "training.gap=true",
    "overhead.steps=2",
    "overhead.rounds=1",
    "datapath.model=srcnn_915",
    "datapath.degradations=[bicubic,blur_bicubic,noisy,realistic]",
    "inference.models=[srcnn_915]",
    "inference.size=24",
    "inference.rss={model: srcnn_915, scale: 2, width: 40, height: 24}",
    'quality.overrides=["model=srcnn_915"]',
    "quality.steps=2",
    "quality.val_every=1",
    "cuda.models=[srcnn_915]",
    "cuda.batch=4",
    "cuda.patch=24",
]


def compose_bench(overrides: list[str]):
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from srlab.cli.config import CONFIG_DIR

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose("bench", overrides=overrides)


def _train_overrides(image_dirs) -> str:
    keep = [o for o in fast_overrides(*image_dirs) if not o.startswith("trainer.max_steps")]
    return "train_overrides=[" + ",".join(f'"{o}"' for o in keep) + "]"


def test_bench_writes_every_section_and_row(tmp_path, image_dirs, monkeypatch):
    from srlab.benchmark import inference
    from srlab.benchmark.runner import run

    # The peak-RSS child process (a fresh Python importing torch) is tested on its own below.
    fake = {"peak_mb": 900.0, "floor_mb": 700.0, "seconds": 0.1, "out": [48, 80]}
    monkeypatch.setattr(inference, "peak_rss", lambda *args: fake)
    out = tmp_path / "BENCHMARKS.md"
    cfg = compose_bench(["bench=quick", f"out={out}", *TINY, _train_overrides(image_dirs)])
    cfg.sections = ["training", "overhead", "datapath", "inference", "quality", "cuda"]
    path, headlines = run(cfg, command="python -m srlab.bench (test)")
    text = path.read_text()
    for title in (
        "Training throughput",
        "Where a step's time goes",
        "What the gap is made of",
        "The bare loop by setting",
        "Host time per training step, layer by layer",
        "Data path alone",
        "Inference",
        "Peak memory",
        "Time to quality",
        "CUDA",
    ):
        assert title in text, title
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert any(r.startswith("| SRCNN 9-1-5 | cpu,") for r in rows)  # srlab vs bare
    assert any("| 2 x 24x24 (data.batch_size=2) |" in r for r in rows)  # a variant's row
    # The breakdown is srlab's own run (crops of HR and LR made per image: the loader phase),
    # not one of the pre-made gap runs.
    (loader,) = [r for r in rows if r.startswith("| loader |")]
    assert float(loader.split(" | ")[1]) > 0
    # LR per batch, as is, crops made once, everything made once.
    (gap_row,) = [r for r in rows if r.startswith("| SRCNN 9-1-5 |") and r.count("|") == 6]
    assert all(float(cell) > 0 for cell in gap_row.strip("| ").split(" | ")[1:])
    # Host time per step: every layer's run was timed (a positive time per step).
    layers = ("bare loop", "+ Lightning's loop", "+ srlab's module", "+ crops", "LR and colour per")
    for layer in layers:
        (row,) = [r for r in rows if r.startswith(f"| {layer}")]
        assert float(row.split(" | ")[1].split(" ")[0].replace(",", "")) > 0, row
    assert any(r.startswith("| srlab over the bare loop |") for r in rows)
    assert sum(r.startswith("| degradation=") for r in rows) == 4
    assert any(r.startswith("| DataModule loader") for r in rows)
    (inference_row,) = [r for r in rows if "RGB x3 (tile" in r]
    cells = inference_row.strip("| ").split(" | ")
    assert len(cells) == 7 and "tiled" in cells[5] and "whole" in cells[5]
    assert float(cells[6]) > 0  # the network alone on srlab's tiles, against whole images
    # The default precision, the one it is measured against (bf16 vs fp32 either way), bare.
    runs = [r.split(" | ")[0] for r in rows if r.startswith(("| srlab (", "| bare ("))][:3]
    assert runs[0] == "| srlab (default precision)" and runs[2] == "| bare (default precision)"
    assert runs[1] in ("| srlab (32-true)", "| srlab (bf16-mixed)")
    assert any(h.startswith("bf16-mixed vs fp32 (SRCNN") for h in headlines)
    assert headlines[0].startswith("training ratio srlab/bare (srcnn 9-1-5, cpu, ")
    assert any(h.startswith("host time per step over the bare loop") for h in headlines)
    assert any(h.startswith("data path / model rate") for h in headlines)
    assert any(h.startswith("inference ratio srlab/bare") for h in headlines)
    assert any(h.startswith("peak RSS 40x24 x2 tiled upscale") for h in headlines)
    assert any(h.startswith("time-to-quality speed srlab/bare") for h in headlines)
    for h in headlines:
        assert f"- {h}" in text


@pytest.mark.slow  # a child process importing torch: ~5 s
def test_peak_rss_runs_srlab_infer_in_a_fresh_process():
    from srlab.benchmark.inference import peak_rss

    result = peak_rss("srcnn_915", 2, 40, 24, threads=1)
    assert result["out"] == [48, 80]
    assert result["peak_mb"] >= result["floor_mb"] > 0


@pytest.mark.gpu
def test_bench_cuda_section_runs_on_a_gpu(tmp_path, image_dirs):
    import torch

    if not torch.cuda.is_available():
        pytest.skip("CUDA not available")
    from srlab.benchmark.runner import run

    out = tmp_path / "BENCHMARKS.md"
    cfg = compose_bench(["bench=quick", f"out={out}", *TINY, _train_overrides(image_dirs)])
    cfg.sections = ["cuda"]
    cfg.cuda.compile = False  # compiling takes minutes; the graphs row compiles once
    cfg.cuda.graphs = True
    _, headlines = run(cfg, command="test")
    assert headlines[0].startswith("training ratio srlab/bare (srcnn 9-1-5, cuda, ")
    text = out.read_text()
    assert "synchronised at every phase" in text and "not measured" not in text


def test_premade_datamodule_names_what_it_can_premake():
    from srlab.benchmark.gap import PremadeDataModule

    with pytest.raises(ValueError, match="premade must be one of"):
        PremadeDataModule("everything", train_source=None, val_source=None)
