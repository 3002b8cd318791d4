"""srlab as an installed library: the wheel carries the configs, every command runs from any
directory without the checkout, and a user's own config directory adds to srlab's groups."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, write_images


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """srlab built as a wheel and installed with ``pip --target`` (no dependencies: they come from
    the current environment, which does not see the checkout once PYTHONPATH is the target)."""
    base = tmp_path_factory.mktemp("wheel")
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(REPO_ROOT),
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(base / "dist"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=base,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    (wheel,) = (base / "dist").glob("srlab-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "srlab/conf/train.yaml" in names and "srlab/conf/model/srcnn.yaml" in names
    assert "srlab/weights/registry.json" in names and "srlab/weights/srcnn_x3.safetensors" in names
    assert any(n.endswith("entry_points.txt") for n in names)
    site = base / "site"
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(site),
            str(wheel),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=base,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    return site


def _run(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(
        {
            "PYTHONPATH": str(site),
            "WANDB_MODE": "disabled",
            "SRLAB_EXPERIMENTS_DIR": str(cwd / "exp"),
        }
    )
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=600, cwd=cwd, env=env
    )


def test_the_installed_package_is_used_and_finds_its_configs(installed, tmp_path):
    proc = _run(
        installed,
        tmp_path,
        "-c",
        "import srlab, srlab.cli.config as c; print(srlab.__file__); print(c.CONFIG_DIR)",
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    module, conf = proc.stdout.split()
    assert module.startswith(str(installed)) and conf == str(installed / "srlab" / "conf")


def test_every_command_runs_from_outside_the_checkout(installed, tmp_path):
    write_images(tmp_path / "data" / "Set5", 2, size=(24, 30), seed=3)
    write_images(tmp_path / "photos", 1, size=(9, 11), seed=4)
    train = _run(
        installed, tmp_path, "-m", "srlab.train", "debug=fast", "callbacks.progress_bar=null"
    )
    assert train.returncode == 0, train.stderr[-3000:]
    assert list((tmp_path / "exp").rglob("best.ckpt"))
    evaluate = _run(
        installed,
        tmp_path,
        "-m",
        "srlab.evaluate",
        "model=bicubic",
        "data.sets=[Set5]",
        "scale=2",
        f"paths.data_dir={tmp_path / 'data'}",
    )
    assert evaluate.returncode == 0, evaluate.stderr[-3000:]
    assert "| bicubic | Set5 |" in evaluate.stdout
    # ckpt=srcnn: the bundled weights travel in the wheel; a fresh install upscales offline.
    for ckpt, scale, folder in (("bicubic", 2, "up"), ("srcnn", 4, "up4")):
        infer = _run(
            installed,
            tmp_path,
            "-m",
            "srlab.infer",
            f"ckpt={ckpt}",
            f"scale={scale}",
            f"input={tmp_path / 'photos'}",
            f"output={tmp_path / folder}",
        )
        assert infer.returncode == 0, infer.stderr[-3000:]
        assert (tmp_path / folder / "img_000.png").is_file()


def test_a_user_config_directory_adds_a_model_that_trains(installed, tmp_path):
    """The README's example: a model config of one's own, composed on top of srlab's."""
    user = tmp_path / "my_configs"
    (user / "model").mkdir(parents=True)
    (user / "model" / "srcnn_small.yaml").write_text(
        "# SRCNN with fewer filters: srlab's srcnn config, two values changed.\n"
        "defaults:\n  - srcnn\n  - _self_\nnet:\n  n1: 16\n  n2: 8\n"
    )
    proc = _run(
        installed,
        tmp_path,
        "-m",
        "srlab.train",
        "--config-dir",
        str(user),
        "model=srcnn_small",
        "debug=fast",
        "callbacks.progress_bar=null",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (ckpt,) = (tmp_path / "exp").rglob("best.ckpt")
    check = _run(
        installed,
        tmp_path,
        "-c",
        f"from srlab.checkpoints import load_model; m = load_model('{ckpt}'); print(m.net.conv1.out_channels, m.net.conv2.out_channels)",
    )
    assert check.stdout.split() == ["16", "8"], check.stderr[-2000:]
    typo = _run(
        installed, tmp_path, "-m", "srlab.train", "--config-dir", str(user), "model=srcnn_smal"
    )
    assert typo.returncode == 2 and "did you mean srcnn_small?" in typo.stderr
