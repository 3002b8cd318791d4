"""Evaluation: the bicubic baseline reproduces the published Set5/Set14 numbers; CLI and tables."""

from __future__ import annotations

import json

import pytest
import torch

from srlab.data.sources import BenchmarkSet
from srlab.models.bicubic import Bicubic
from srlab.protocol.scoring import EvalResult, evaluate, evaluate_source
from srlab.protocol.tables import format_markdown
from tests.conftest import run_module, write_images

# Bicubic baselines as published (e.g. VDSR, Kim et al. CVPR 2016, Table 2; LapSRN; EDSR...).
PUBLISHED = {
    ("Set5", 2): (33.66, 0.9299),
    ("Set5", 3): (30.39, 0.8682),
    ("Set5", 4): (28.42, 0.8104),
    ("Set14", 2): (30.24, 0.8688),
    ("Set14", 3): (27.55, 0.7742),
    ("Set14", 4): (26.00, 0.7027),
}


@pytest.mark.parametrize(
    "round_y",
    # srlab's convention (float Y) always; MATLAB's rounded Y on demand (-m slow): twice the time.
    [False, pytest.param(True, marks=pytest.mark.slow)],
    ids=["float_y", "rounded_y"],
)
def test_bicubic_baseline_reproduces_published_numbers(shared_data, round_y):
    results = evaluate(
        lambda s: Bicubic(scale=s, in_channels=3),
        ["Set5", "Set14"],
        [2, 3, 4],
        root=str(shared_data),
        device="cpu",
        round_y=round_y,
        model_name="bicubic",
    )
    assert [(r.dataset, r.scale) for r in results] == list(PUBLISHED)
    for r in results:
        psnr, ssim = PUBLISHED[(r.dataset, r.scale)]
        assert r.images == (5 if r.dataset == "Set5" else 14)
        assert abs(r.psnr - psnr) < 0.03, (
            f"{r.dataset} x{r.scale}: {r.psnr:.4f} dB vs published {psnr}"
        )
        assert abs(r.ssim - ssim) < 0.002, (
            f"{r.dataset} x{r.scale}: SSIM {r.ssim:.4f} vs published {ssim}"
        )


def _tiny_benchmark(root, name="Set5", count=2):
    write_images(root / name, count, size=(38, 45), seed=3, grey_every=2)
    return root


def test_evaluate_source_follows_the_protocol(tmp_path):
    from srlab.data.datasets import modcrop
    from srlab.degradations import imresize
    from srlab.protocol.colour import rgb_to_y
    from srlab.protocol.metrics import psnr_per_image, ssim_per_image

    source = BenchmarkSet(_tiny_benchmark(tmp_path), "set5")  # alias lookup
    for in_channels in (1, 3):
        result = evaluate_source(Bicubic(3, in_channels), source, 3, model_name="bic")
        assert result.dataset == "Set5" and result.images == 2 and len(result.per_image) == 2
        for i, row in enumerate(result.per_image):
            hr = modcrop(source.load(i), 3).float().div(255)[None]
            assert hr.shape[-2:] == (36, 45)
            lr = torch.floor(imresize(hr, 1 / 3) * 255 + 0.5).clamp(0, 255) / 255  # uint8 LR
            if in_channels == 1 and hr.shape[1] == 3:
                lr = rgb_to_y(lr)  # Y model: fed BT.601 Y
            sr = imresize(lr, 3)
            assert row["psnr"] == pytest.approx(psnr_per_image(sr, hr, 3).item(), abs=1e-9)
            assert row["ssim"] == pytest.approx(ssim_per_image(sr, hr, 3).item(), abs=1e-9)
        assert result.psnr == pytest.approx(sum(r["psnr"] for r in result.per_image) / 2)


def test_random_degradation_evaluation_is_reproducible(tmp_path):
    from hydra.utils import instantiate

    from tests.conftest import compose_train

    source = BenchmarkSet(_tiny_benchmark(tmp_path), "Set5")
    realistic = instantiate(compose_train(["degradation=realistic", "data.scale=2"]).degradation)
    first = evaluate_source(Bicubic(2, 3), source, 2, degradation=realistic, seed=1)
    again = evaluate_source(Bicubic(2, 3), source, 2, degradation=realistic, seed=1)
    other = evaluate_source(Bicubic(2, 3), source, 2, degradation=realistic, seed=2)
    clean = evaluate_source(Bicubic(2, 3), source, 2)
    assert first.per_image == again.per_image
    assert first.psnr != other.psnr
    assert first.psnr < clean.psnr


def test_wrong_scale_model_gives_a_clear_error(tmp_path):
    source = BenchmarkSet(_tiny_benchmark(tmp_path), "Set5")
    with pytest.raises(ValueError, match="is a x2 model, asked to score at x3"):
        evaluate_source(Bicubic(2, 3), source, 3, model_name="bicubic")


def test_markdown_tables():
    rows = [
        EvalResult("bicubic", "Set5", 2, 33.6818, 0.93052, 5, 0.1),
        EvalResult("bicubic", "Set5", 4, 28.4314, 0.81127, 5, 0.1),
        EvalResult("bicubic", "Set14", 2, 30.2357, 0.86923, 14, 0.1),
    ]
    wide = format_markdown(rows).splitlines()
    assert wide[0] == "| Model | Dataset | x2 PSNR / SSIM | x4 PSNR / SSIM |"
    assert wide[2] == "| bicubic | Set5 | 33.68 / 0.9305 | 28.43 / 0.8113 |"
    assert wide[3] == "| bicubic | Set14 | 30.24 / 0.8692 | – |"
    long = format_markdown(rows, layout="long").splitlines()
    assert long[2] == "| bicubic | Set5 | x2 | 33.682 | 0.9305 | 5 |" and len(long) == 5
    with pytest.raises(ValueError):
        format_markdown(rows, layout="tall")


def test_evaluate_cli_prints_a_markdown_table_and_saves_results(tmp_path):
    root = _tiny_benchmark(tmp_path / "data")
    _tiny_benchmark(root, "Set14", count=1)
    exp = tmp_path / "exp"
    proc = run_module(
        "srlab.evaluate",
        [
            "model=bicubic",
            "data=benchmark",
            "data.sets=[Set5,Set14]",
            "data.scales=[2,3]",
            f"paths.data_dir={root}",
            f"paths.experiments_dir={exp}",
            "device=cpu",
        ],
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("|")]
    assert lines[0] == "| Model | Dataset | x2 PSNR / SSIM | x3 PSNR / SSIM |"
    assert [ln.split("|")[2].strip() for ln in lines[2:]] == ["Set5", "Set14"]
    saved = list(exp.glob("evaluate_bicubic/*/results.json"))
    assert len(saved) == 1
    results = json.loads(saved[0].read_text())
    assert [(r["dataset"], r["scale"], r["images"]) for r in results] == [
        ("Set5", 2, 2),
        ("Set5", 3, 2),
        ("Set14", 2, 1),
        ("Set14", 3, 1),
    ]
    assert f"{results[0]['psnr']:.2f} / {results[0]['ssim']:.4f}" in lines[2]


def _compose_evaluate(overrides):
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    from srlab.cli.config import CONFIG_DIR

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("evaluate", overrides=overrides, return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg


def test_evaluate_config_runs_in_process_and_names_missing_sets(tmp_path):
    from srlab.errors import DatasetNotFoundError
    from srlab.evaluate import evaluate as evaluate_cfg

    root = _tiny_benchmark(tmp_path / "data")
    cfg = _compose_evaluate(
        [
            f"paths.data_dir={root}",
            "data.sets=[Set5]",
            "data.scales=[4]",
            "save=false",
            "degradation=noisy",
            "table=long",
        ]
    )
    assert cfg.model_name == "bicubic" and cfg.data.scale == 4
    rows = evaluate_cfg(cfg)
    assert [(r["dataset"], r["scale"], r["images"]) for r in rows] == [("Set5", 4, 2)]
    cfg = _compose_evaluate([f"paths.data_dir={root}", "data.sets=[Urban100]", "save=false"])
    with pytest.raises(DatasetNotFoundError, match="benchmark set 'Urban100' not found"):
        evaluate_cfg(cfg)


def test_item06_evaluation_reproduces_the_validation_lr_on_any_device(tmp_path, device):
    """Item 6: per-image degradations draw from a CPU generator (then move), so srlab.evaluate on
    any device makes the validation LR images of training on any device (here: realistic
    degradation, random blur, noise and JPEG). On CUDA the arithmetic may differ by float
    rounding: at most one uint8 step on a few pixels."""
    from hydra.utils import instantiate

    from srlab.data.datamodule import SRDataModule
    from srlab.data.datasets import WholeImageDataset
    from tests.conftest import compose_train

    source = BenchmarkSet(_tiny_benchmark(tmp_path), "Set5")
    realistic = instantiate(compose_train(["degradation=realistic", "data.scale=3"]).degradation)
    validation = SRDataModule(source, source, scale=3, degradation=realistic, seed=42)
    images = WholeImageDataset(source, 3)
    made = []
    evaluate_source(
        Bicubic(3, 3), source, 3, degradation=realistic, seed=42, device="cpu",
        on_image=lambda item: made.append(item["lr"]),
    )  # fmt: skip
    for index in range(len(images)):
        hr = images[index]["hr"][None].to(device)
        batch = {"hr": hr, "index": torch.tensor([index])}
        lr = validation.degrade(batch, training=False)["lr"].cpu()
        if device.type == "cpu":
            assert torch.equal(lr, made[index])
        else:
            diff = (lr - made[index]).abs()
            assert diff.max() <= 1 / 255 + 1e-6 and (diff > 0).float().mean() < 0.01


def test_item06_per_image_generators_are_cpu_generators_whatever_the_device():
    """Item 6, on a machine without a GPU: the images' device (here PyTorch's `meta` device, on
    which no generator can exist) does not choose the validation generator's device."""
    from torch import nn

    from srlab.data.datamodule import SRDataModule
    from srlab.protocol.scoring import image_generator

    seen = []

    class Spy(nn.Module):
        def forward(self, hr, generator=None):
            seen.append(generator)
            return hr[..., ::2, ::2]

    datamodule = SRDataModule(None, None, scale=2, patch_size=4, degradation=Spy(), seed=5)
    hr = torch.zeros(1, 3, 4, 6, dtype=torch.uint8, device="meta")
    lr = datamodule.degrade({"hr": hr, "index": torch.tensor([3])}, training=False)["lr"]
    assert lr.device.type == "meta" and lr.shape == (1, 3, 2, 3)
    (generator,) = seen
    assert generator.device.type == "cpu"
    assert torch.equal(generator.get_state(), image_generator(5, 3).get_state())


def test_item08_grey_images_scored_on_grey_by_default_or_as_rgb_like_basicsr(tmp_path):
    """Item 8: a one-channel image is scored on its grey values (srlab's, MATLAB's convention);
    grey_as_rgb=True reads it as three equal channels first (BasicSR, KAIR): scored on
    Y = 16 + 219 g/255, 20 log10(255/219) = 1.32 dB higher for an RGB model's same output (a Y
    model sees Y = 16 + 219 g/255 as its input then, and its output is rounded on that scale:
    about the same gain); colour images unchanged."""
    import math

    source = BenchmarkSet(_tiny_benchmark(tmp_path), "Set5")
    assert [source.load(i).shape[0] for i in range(2)] == [3, 1]  # a colour and a grey image
    gain = 20 * math.log10(255 / 219)
    for net, tolerance in ((Bicubic(3, 3), 1e-9), (Bicubic(3, 1), 0.1)):  # RGB and Y models
        ours = evaluate_source(net, source, 3)
        basicsr = evaluate_source(net, source, 3, grey_as_rgb=True)
        (colour, grey), (colour_rgb, grey_rgb) = ours.per_image, basicsr.per_image
        assert colour_rgb["psnr"] == colour["psnr"]
        assert grey_rgb["psnr"] == pytest.approx(grey["psnr"] + gain, abs=tolerance)
        assert grey_rgb["psnr"] - grey["psnr"] > 1.2

    # The command's option (conf/evaluate.yaml grey_as_rgb).
    from srlab.evaluate import evaluate as evaluate_cfg

    common = [f"paths.data_dir={tmp_path}", "data.sets=[Set5]", "data.scales=[3]", "save=false"]
    default = evaluate_cfg(_compose_evaluate(common))[0]["psnr"]
    as_rgb = evaluate_cfg(_compose_evaluate([*common, "grey_as_rgb=true"]))[0]["psnr"]
    assert as_rgb - default == pytest.approx(gain / 2, abs=1e-9)  # one of the two images


def test_item08_set14_bridge_scores_1_32_db_higher_as_rgb(shared_data):
    import math

    source = BenchmarkSet(shared_data, "Set14")
    ours = evaluate_source(Bicubic(3, 3), source, 3)
    basicsr = evaluate_source(Bicubic(3, 3), source, 3, grey_as_rgb=True)
    diffs = {
        a["name"]: b["psnr"] - a["psnr"]
        for a, b in zip(ours.per_image, basicsr.per_image, strict=True)
    }
    assert [name for name, d in diffs.items() if abs(d) > 1e-9] == ["bridge"]
    assert diffs["bridge"] == pytest.approx(20 * math.log10(255 / 219), abs=1e-9)  # 1.32 dB
    assert basicsr.psnr - ours.psnr == pytest.approx(0.0944, abs=1e-4)  # the set's mean
