"""The model zoo: paper parameter counts, each architecture's defining detail, the summary table,
the equal-budget experiment and the comparison script. (Shape/gradient contract: test_models.py.)"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import subprocess
import sys

import pytest
import torch
from torch import nn

from tests.conftest import REPO_ROOT, compose_train, run_module, write_images
from tests.models.test_models import MODEL_CONFIGS, build_net

ZOO = ["srcnn", "srcnn_deconv", "fsrcnn", "espcn", "vdsr", "edsr_baseline"]


def n_params(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


# ---------------------------------------------------------------------------- parameter counts
# (config, scale, our exact count from the paper's formula, the paper's published count or None).
PAPER_COUNTS = [
    # ESPCN (l=3, 5-3-3, 64-32): (25*64+64) + (9*64*32+32) + (9*32*r^2+r^2); the paper prints no count.
    ("espcn", 2, 21_284, None),
    ("espcn", 3, 22_729, None),
    ("espcn", 4, 24_752, None),
    # VDSR: 20 layers of 3x3x64 with biases; "665K" in the SR literature.
    ("vdsr", 3, 665_921, 665_000),
    # EDSR-baseline, as published with the official code: 1.37M / 1.55M / 1.52M.
    ("edsr_baseline", 2, 1_369_859, 1_370_000),
    ("edsr_baseline", 3, 1_554_499, 1_550_000),
    ("edsr_baseline", 4, 1_517_571, 1_520_000),
    # SRCNN on the LR grid + 9x9 deconvolution of the 32 feature maps (no paper count: our variant).
    ("srcnn_deconv", 3, 9 * 9 * 64 + 64 + 25 * 64 * 32 + 32 + 81 * 32 + 1, None),
]


@pytest.mark.parametrize("name,scale,ours,paper", PAPER_COUNTS)
def test_parameter_counts_match_the_papers(name, scale, ours, paper):
    net, _ = build_net(name, scale)
    assert n_params(net) == ours
    if paper is not None:
        assert abs(ours - paper) / paper < 0.02


def test_fsrcnn_counts_weights_like_the_paper():
    """FSRCNN(56,12,4): the paper's 12,464 counts conv/deconv weights; biases and PReLU slopes add 345."""
    net, _ = build_net("fsrcnn", 3)
    weights = sum(
        m.weight.numel() for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))
    )
    d, s, m = 56, 12, 4
    assert weights == 25 * d + s * d + 9 * m * s * s + d * s + 81 * d == 12_464
    assert n_params(net) == 12_464 + (d + s + m * s + d + 1) + (d + s + m * s + d) == 12_809


# ---------------------------------------------------------------------------- architecture specifics
@pytest.mark.parametrize("scale", [2, 3, 4, 5, 8])
def test_fsrcnn_deconvolution_gives_exactly_scale_times_the_input(scale):
    from srlab.models.fsrcnn import FSRCNN

    net = FSRCNN(scale=scale, d=8, s=4, m=1)
    assert net.deconv.kernel_size == (9, 9) and net.deconv.stride == (scale, scale)
    for h, w in [(1, 1), (5, 7), (6, 11)]:
        assert net(torch.rand(1, 1, h, w)).shape == (1, 1, scale * h, scale * w)


def test_fsrcnn_deconvolution_centres_each_lr_pixel_on_its_hr_block_at_x3():
    from srlab.models.fsrcnn import FSRCNN
    from srlab.models.layers import deconv_padding

    net = FSRCNN(scale=3, d=2, s=2, m=1)
    with torch.no_grad():
        net.deconv.weight.zero_()
        net.deconv.weight[0, 0, 4, 4] = 1.0  # the kernel's centre tap
        net.deconv.bias.zero_()
        features = torch.zeros(1, 2, 4, 5)
        features[0, 0, 2, 3] = 1.0
        out = net.deconv(features)
    assert out.shape == (1, 1, 12, 15)
    assert out[0, 0].nonzero().tolist() == [[3 * 2 + 1, 3 * 3 + 1]]  # the centre of the 3x3 block
    with pytest.raises(ValueError, match="no padding"):
        deconv_padding(8, 1)


def test_espcn_is_a_pixel_shuffle_of_its_last_lr_grid_convolution():
    from srlab.models.espcn import ESPCN

    r = 3
    net = ESPCN(scale=r)
    captured = {}
    net.conv3.register_forward_hook(lambda mod, inp, out: captured.update(z=out))
    lr = torch.rand(2, 1, 6, 7)
    sr = net(lr)
    z = captured["z"]
    assert z.shape == (2, r * r, 6, 7)  # every convolution ran on the LR grid
    assert isinstance(net.pixel_shuffle, nn.PixelShuffle)
    for a in range(r):
        for b in range(r):  # HR pixel (r*i + a, r*j + b) is channel a*r + b at LR pixel (i, j)
            torch.testing.assert_close(sr[:, 0, a::r, b::r], z[:, a * r + b])


def test_vdsr_adds_its_residual_to_the_bicubic_image():
    from srlab.degradations.resize import imresize
    from srlab.models.vdsr import VDSR

    torch.manual_seed(0)
    net = VDSR(scale=3, depth=4, features=8)
    lr = torch.rand(1, 1, 6, 5)
    ilr = imresize(lr, 3)
    with torch.no_grad():
        torch.testing.assert_close(net(lr), ilr + net.tail(net.body(ilr)))
        nn.init.zeros_(net.tail.weight)
        torch.testing.assert_close(net(lr), ilr)  # a zero residual is exactly MATLAB bicubic
    full, _ = build_net("vdsr", 3)
    convs = [m for m in full.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 20 and all(c.kernel_size == (3, 3) for c in convs)


def test_edsr_mean_shift_upsampler_and_colour_mode():
    from srlab.models.edsr import DIV2K_RGB_MEAN, EDSR
    from srlab.protocol.colour import rgb_to_y

    net = EDSR(scale=4, num_blocks=2, features=8)
    shuffles = [m.upscale_factor for m in net.upsampler if isinstance(m, nn.PixelShuffle)]
    assert shuffles == [2, 2]
    assert [
        m.upscale_factor
        for m in EDSR(scale=3, num_blocks=1, features=8).upsampler
        if isinstance(m, nn.PixelShuffle)
    ] == [3]
    # The mean is a buffer: saved, not trained, not counted.
    assert "mean" in net.state_dict() and all(p is not net.mean for p in net.parameters())
    with torch.no_grad():
        nn.init.zeros_(net.tail.weight)
        nn.init.zeros_(net.tail.bias)
        out = net(torch.rand(1, 3, 5, 6))
    expected = torch.tensor(DIV2K_RGB_MEAN).view(1, 3, 1, 1).expand(1, 3, 20, 24)
    torch.testing.assert_close(out, expected)
    y_net = EDSR(scale=2, in_channels=1, num_blocks=1, features=8)
    torch.testing.assert_close(y_net.mean, rgb_to_y(torch.tensor(DIV2K_RGB_MEAN).view(1, 3, 1, 1)))
    with pytest.raises(ValueError, match="data_mean"):
        EDSR(scale=2, in_channels=1, data_mean=[0.5, 0.5, 0.5])


def test_srcnn_deconv_runs_its_convolutions_on_the_lr_grid():
    from srlab.models.srcnn import SRCNN, SRCNNDeconv

    sizes = {}
    pre, post = SRCNN(scale=3), SRCNNDeconv(scale=3)
    pre.conv2.register_forward_hook(lambda m, i, o: sizes.update(pre=tuple(o.shape[-2:])))
    post.conv2.register_forward_hook(lambda m, i, o: sizes.update(post=tuple(o.shape[-2:])))
    lr = torch.rand(1, 1, 8, 10)
    assert pre(lr).shape == post(lr).shape == (1, 1, 24, 30)
    assert sizes == {"pre": (24, 30), "post": (8, 10)}
    assert isinstance(post.deconv, nn.ConvTranspose2d) and post.deconv.stride == (3, 3)


@pytest.mark.parametrize(
    "cls_path", ["fsrcnn.FSRCNN", "espcn.ESPCN", "vdsr.VDSR", "edsr.EDSR", "srcnn.SRCNNDeconv"]
)
@pytest.mark.parametrize("in_channels", [1, 3])
def test_colour_mode_follows_in_channels(cls_path, in_channels):
    module, name = cls_path.split(".")
    cls = getattr(importlib.import_module(f"srlab.models.{module}"), name)
    small = {"VDSR": {"depth": 3, "features": 8}, "EDSR": {"num_blocks": 1, "features": 8}}.get(
        name, {}
    )
    net = cls(scale=2, in_channels=in_channels, **small)
    assert net.in_channels == in_channels
    assert net(torch.rand(1, in_channels, 5, 4)).shape == (1, in_channels, 10, 8)


def test_fsrcnn_config_trains_its_deconvolution_ten_times_slower():
    """The paper's 1e-3 / 1e-4 learning rates: the deconvolution is SRModule's output layer."""
    from hydra.utils import instantiate

    _, cfg = build_net("fsrcnn", 3)
    module = instantiate(cfg.model)
    optimizer = module.configure_optimizers()
    groups = {g["name"]: g for g in optimizer.param_groups}
    assert groups["body"]["lr"] == pytest.approx(1e-3) and groups["head"]["lr"] == pytest.approx(
        1e-4
    )
    assert {id(p) for p in groups["head"]["params"]} == {
        id(p) for p in module.net.deconv.parameters()
    }


def test_edsr_config_uses_the_paper_optimisation():
    _, cfg = build_net("edsr_baseline", 3)
    assert cfg.model.loss == "l1" and cfg.model.optimizer.lr == pytest.approx(1e-4)
    assert cfg.model.net.in_channels == 3
    for name in ("fsrcnn", "espcn", "vdsr"):
        assert build_net(name, 3)[1].model.net.in_channels == 1


# ---------------------------------------------------------------------------- MACs and the table
def test_hook_counted_macs_equal_the_hand_formula():
    from srlab.summary import count_macs

    h, w = 6, 7
    fsrcnn, _ = build_net("fsrcnn", 3)
    assert (
        count_macs(fsrcnn, torch.rand(1, 1, h, w)) == 12_464 * h * w
    )  # every weight once per LR px
    vdsr, _ = build_net("vdsr", 3)
    assert count_macs(vdsr, torch.rand(1, 1, h, w)) == 664_704 * (3 * h) * (3 * w)  # per HR px
    lin = nn.Sequential(nn.Flatten(), nn.Linear(12, 5))
    assert count_macs(lin, torch.rand(2, 3, 2, 2)) == 2 * 12 * 5


def test_summary_prints_a_row_per_model_config(capsys):
    from srlab.summary import main, model_names

    assert model_names() == MODEL_CONFIGS
    assert (
        main(
            [
                "--models",
                "fsrcnn,srcnn_deconv,bicubic",
                "--lr-size",
                "8",
                "--repeats",
                "1",
                "--min-time",
                "0",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    rows = {
        line.split("|")[1].strip(): line.split("|")
        for line in out.splitlines()
        if line.startswith("| ")
    }
    assert set(rows) == {"model", "fsrcnn", "srcnn_deconv", "bicubic"}
    assert (
        rows["fsrcnn"][4].strip() == "12,809" and rows["fsrcnn"][5].strip() == "1,385"
    )  # 12464 / 9
    assert rows["bicubic"][4].strip() == "0"
    # GMACs of the 8x8 -> 24x24 forward = MACs per output pixel x 576 output pixels.
    for name in ("fsrcnn", "srcnn_deconv"):
        macs = int(rows[name][5].strip().replace(",", ""))
        assert float(rows[name][6]) == pytest.approx(macs * 24 * 24 / 1e9, abs=5e-4)
    assert float(rows["srcnn_deconv"][7]) > 0  # measured MP/s (a timing: only its sign)
    assert main(["--models", "nope", "--no-timing"]) == 2


def test_summary_runs_as_a_module_over_every_config():
    proc = run_module(
        "srlab.summary", ["--no-timing", "--lr-size", "6"], cwd=REPO_ROOT, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    names = [
        line.split("|")[1].strip() for line in proc.stdout.splitlines() if line.startswith("| ")
    ][1:]
    assert names == MODEL_CONFIGS


# ---------------------------------------------------------------------------- equal-budget sweep
def test_zoo_experiment_gives_every_model_the_same_budget(tmp_path):
    from hydra.core.hydra_config import HydraConfig

    budgets = set()
    for name in ZOO:
        cfg = compose_train(
            ["experiment=zoo_x3", f"model={name}", "paths.data_dir=/data"], tmp_path / name
        )
        assert cfg.experiment_name == f"zoo_x3_{name}" and cfg.logger.wandb.group == "zoo_x3"
        assert cfg.data.train_source._target_ == "srlab.data.sources.T91"
        assert cfg.data.train_source.root == cfg.data.val_source.root == "/data"
        assert cfg.data.val_source.name == "Set5"
        assert cfg.data.scale == 3 and cfg.test is True
        d, t = cfg.data, cfg.trainer
        budgets.add(
            (
                d.patch_size,
                d.batch_size,
                d.patches_per_epoch,
                t.max_steps,
                cfg.seed,
                cfg.degradation._target_,
            )
        )
    assert len(budgets) == 1
    swept = HydraConfig.get().sweeper.params.model.split(",")
    assert sorted(swept) == sorted(ZOO) and set(swept) <= set(MODEL_CONFIGS)


def _zoo_script():
    spec = importlib.util.spec_from_file_location(
        "zoo_compare", REPO_ROOT / "scripts" / "zoo_compare.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_zoo_script_pieces(tmp_path):
    """Validation interval, the per-model command, and paper-protocol scoring of a checkpoint file."""
    from srlab.models.vdsr import VDSR

    zoo = _zoo_script()
    assert zoo.ZOO == ZOO
    assert [zoo.validation_interval(s) for s in (5000, 7, 4, 1)] == [500, 1, 1, 1]
    args = argparse.Namespace(
        steps=300, trainer="cpu", batch_size=8, data_root="/d", seed=3, overrides=["logger=none"]
    )
    cmd = zoo.train_command("espcn", args, tmp_path / "run")
    assert cmd[1:4] == ["-m", "srlab.train", "experiment=zoo_x3"]
    assert {
        "model=espcn",
        "trainer.max_steps=300",
        "data.patches_per_epoch=240",
        "logger=none",
    } <= set(cmd)

    # A VDSR with a zero residual is bicubic on Y: the script must score it as the bicubic row
    # (RGB bicubic scored on Y, within rounding: ~0.01 dB).
    write_images(tmp_path / "Set5", 2, size=(30, 33), seed=5)
    net = VDSR(scale=3, depth=2, features=4)
    nn.init.zeros_(net.tail.weight)
    config = {
        "_target_": "srlab.models.vdsr.VDSR",
        "scale": 3,
        "in_channels": 1,
        "depth": 2,
        "features": 4,
    }
    state = {f"net.{k}": v for k, v in net.state_dict().items()}
    torch.save({"state_dict": state, "srlab": {"net_config": config}}, tmp_path / "best.ckpt")
    scores = zoo.evaluate_checkpoint(tmp_path / "best.ckpt", tmp_path, 3, "cpu")
    assert scores["images"] == 2 and scores["params"] == n_params(net)
    from srlab.data.sources import FolderImages
    from srlab.models.bicubic import Bicubic
    from srlab.protocol.scoring import evaluate_source

    rgb_bicubic = evaluate_source(Bicubic(3, 3), FolderImages(tmp_path / "Set5"), 3)
    assert scores["psnr_bicubic"] == pytest.approx(rgb_bicubic.psnr, abs=1e-9)
    assert scores["psnr"] == pytest.approx(scores["psnr_bicubic"], abs=0.05)


def test_zoo_script_end_to_end(tmp_path):
    root = tmp_path / "data"
    write_images(root / "T91", 4, size=(78, 81), seed=1)
    write_images(root / "Set5", 2, size=(45, 51), seed=2)
    out = tmp_path / "zoo"
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "scripts" / "zoo_compare.py"),
            "--steps",
            "2",
            "--trainer",
            "cpu",
            "--batch-size",
            "4",
            "--data-root",
            str(root),
            "--models",
            "fsrcnn",
            "--out",
            str(out),
            "logger=none",
            "data.num_workers=0",
            "~callbacks.progress_bar",
        ],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = json.loads((out / "results.json").read_text())["rows"]
    assert [r["model"] for r in rows] == ["fsrcnn"]
    assert rows[0]["params"] == 12_809 and rows[0]["steps"] == 2
    # The table's figures are the protocol's: the best checkpoint and RGB bicubic on Set5.
    from srlab.checkpoints import load_model
    from srlab.data.sources import FolderImages
    from srlab.models.bicubic import Bicubic
    from srlab.protocol.scoring import evaluate_source

    set5 = FolderImages(root / "Set5")
    best = load_model(out / "fsrcnn" / "checkpoints" / "best.ckpt").net
    assert rows[0]["psnr"] == pytest.approx(evaluate_source(best, set5, 3).psnr, abs=1e-6)
    assert rows[0]["psnr_bicubic"] == pytest.approx(
        evaluate_source(Bicubic(3, 3), set5, 3).psnr, abs=1e-6
    )
    assert "| fsrcnn | 12,809 |" in proc.stdout and (out / "results.md").is_file()
    assert (out / "fsrcnn" / "checkpoints" / "best.ckpt").is_file()
