"""One command-line vocabulary for every command: --help per command, scale=/ckpt= everywhere,
one line (with the closest valid key or option) for a typo, reported before any heavy import."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT, SAMPLE_CKPT, run_module, write_images


def test_help_lists_each_commands_own_keys_and_groups():
    from srlab.cli.help import command_help

    infer = command_help("infer")
    for key in ("input", "output", "ckpt", "scale", "tile", "tile_overlap", "existing", "device"):
        assert f"\n  {key} " in infer, key
    # infer composes no training groups: they are not listed as its options.
    assert "Config groups" not in infer and "trainer" not in infer
    train = command_help("train")
    assert "\n  ckpt " in train and "\n  init_from " in train and "\n  resume " in train
    for group in ("model", "data", "degradation", "trainer", "logger", "callbacks", "debug"):
        assert f"\n  {group} " in train, group
    assert "srcnn_915" in train and "scale= sets data.scale=" in train
    assert "ckpt_path= (for ckpt=)" in train
    evaluate = command_help("evaluate")
    assert (
        "\n  ckpt " in evaluate
        and "\n  round_y " in evaluate
        and "scale= sets data.scales=" in evaluate
    )


@pytest.mark.parametrize("command", ["train", "evaluate", "infer", "export", "compare"])
def test_help_on_the_command_line(tmp_path, command):
    proc = run_module(f"srlab.{command}", ["--help"], tmp_path, 60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith(f"usage: python -m srlab.{command}")
    assert "Keys (key=value):" in proc.stdout


def test_same_concept_same_name_in_every_command():
    from srlab.cli.app import apply_aliases

    assert apply_aliases("train", ["scale=2", "ckpt_path=a.ckpt"]) == [
        "data.scale=2",
        "ckpt=a.ckpt",
    ]
    assert apply_aliases("evaluate", ["scale=2"]) == ["data.scales=[2]"]
    assert apply_aliases("evaluate", ["scale=2,3"]) == ["data.scales=[2,3]"]  # a list, not a sweep
    assert apply_aliases("evaluate", ["data.scale=4"]) == ["data.scales=[4]"]
    assert apply_aliases("evaluate", ["data.scales=[2,4]"]) == ["data.scales=[2,4]"]
    assert apply_aliases("infer", ["data.scale=4", "scale=4"]) == ["scale=4", "scale=4"]
    assert apply_aliases("train", ["-m", "scale=2,3"]) == ["-m", "data.scale=2,3"]  # a sweep here


@pytest.mark.parametrize(
    "command,args,message",
    [
        (
            "train",
            ["trainer.max_step=10"],
            "unknown key trainer.max_step for srlab.train; did you mean trainer.max_steps?",
        ),
        (
            "train",
            ["model.optimizer.learning_rate=1e-3"],
            "unknown key model.optimizer.learning_rate for srlab.train",
        ),
        (
            "infer",
            ["tile_overlp=8"],
            "unknown key tile_overlp for srlab.infer; did you mean tile_overlap?",
        ),
        (
            "evaluate",
            ["model=bicubc"],
            "unknown model 'bicubc' (model=bicubc); did you mean bicubic? valid:",
        ),
        (
            "evaluate",
            ["data.setz=[Set5]"],
            "unknown key data.setz for srlab.evaluate; did you mean data.sets?",
        ),
        ("export", ["fromat=onnx"], "unknown key fromat for srlab.export; did you mean format?"),
    ],
)
def test_a_typo_is_one_line_naming_the_closest_valid_key(tmp_path, command, args, message):
    proc = run_module(f"srlab.{command}", args, tmp_path, 60)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"srlab: error: {message}"), proc.stderr


def test_typos_are_reported_before_torch_or_lightning_is_imported():
    code = (
        "import sys\n"
        "from srlab.cli.app import prepare\n"
        "try:\n"
        "    prepare('infer', ['tile_overlp=8'])\n"
        "except SystemExit as e:\n"
        "    print(e.code, sorted(m for m in ('torch', 'lightning', 'torchmetrics') if m in sys.modules))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert proc.stdout.strip() == "2 []", proc.stdout + proc.stderr


def test_inference_imports_neither_lightning_nor_torchmetrics(tmp_path):
    """srlab.infer, srlab.evaluate's scoring and srlab.export load only what they use (start-up)."""
    write_images(tmp_path / "in", 1, size=(5, 5))
    code = (
        "import sys\n"
        "from omegaconf import OmegaConf\n"
        "from srlab.infer import infer\n"
        f"infer(OmegaConf.create({{'input': '{tmp_path / 'in'}', 'output': '{tmp_path / 'out'}',"
        f" 'ckpt': '{SAMPLE_CKPT}', 'scale': None, 'device': 'cpu', 'half': False,"
        " 'tile': 'auto', 'tile_overlap': 'auto', 'torch_threads': 1}))\n"
        "import srlab.protocol.scoring, srlab.export, srlab.checkpoints\n"
        "print(sorted(m for m in ('lightning', 'torchmetrics', 'kornia', 'wandb') if m in sys.modules))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == "[]", proc.stdout
    assert (tmp_path / "out" / "img_000.png").is_file()


def test_evaluate_refuses_a_scale_the_checkpoint_is_not(tmp_path):
    write_images(tmp_path / "data" / "Set5", 1, size=(30, 30))
    proc = run_module(
        "srlab.evaluate",
        [
            f"ckpt={SAMPLE_CKPT}",
            "scale=2",
            f"paths.data_dir={tmp_path / 'data'}",
            "data.sets=[Set5]",
        ],
        tmp_path,
        120,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert (
        "holds a x3 SRCNN model, but scale=2 was requested" in proc.stderr.strip().splitlines()[-1]
    )
    assert "srlab: note: data.scale" not in proc.stderr  # scale= is the documented spelling
