"""Shared fixtures: isolated W&B/experiment dirs, tiny generated images, composed configs.

Everything runs on CPU, offline, seeded, in tmp_path. Heavy imports (lightning, kornia) stay inside
the tests that need them so that collection is fast.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
# A small trained SRCNN 9-1-5 x3 (400 CPU steps on the sample photos, written by srlab.train before
# the package layout changed): the tests' stand-in for "a trained checkpoint" (not a bundled model).
SAMPLE_CKPT = REPO_ROOT / "tests" / "fixtures" / "legacy" / "srcnn_915_x3.ckpt"
SHARED_DATA = Path(os.environ.get("SRLAB_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


def run_module(
    module: str,
    args: list[str],
    cwd: Path,
    timeout: int = 300,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """Run ``python -m <module> <args>`` in ``cwd`` and return the finished process.

    This checkout comes first on PYTHONPATH, so the subprocess imports the srlab under test; ``env``
    holds extra variables merged over ``os.environ`` (the test's environment, isolated by
    ``_isolated_env``). stdout and stderr are captured as text; ``timeout`` is in seconds.
    """
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path_factory, monkeypatch):
    """W&B and srlab never write to ~ or the repo, and never reach the network."""
    base = tmp_path_factory.mktemp("env")
    for var in (
        "WANDB_DIR",
        "WANDB_CACHE_DIR",
        "WANDB_CONFIG_DIR",
        "WANDB_DATA_DIR",
        "WANDB_ARTIFACT_DIR",
    ):
        monkeypatch.setenv(var, str(base / var.lower()))
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("NETRC", str(base / "netrc-none"))
    monkeypatch.setenv("SRLAB_EXPERIMENTS_DIR", str(base / "experiments"))
    monkeypatch.delenv("SRLAB_DATA_DIR", raising=False)
    yield


def save_srlab_checkpoint(path: Path, net, net_config: dict, **extra) -> Path:
    """Write what ``srlab.train`` checkpoints for a network: its weights under ``net.`` and srlab's
    metadata (scale, colour mode, network config); ``extra`` adds top-level keys (e.g.
    ``global_step``)."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            **extra,
            "state_dict": {f"net.{k}": v for k, v in net.state_dict().items()},
            "srlab": {
                "scale": int(net.scale),
                "in_channels": int(net.in_channels),
                "net_config": net_config,
            },
        },
        path,
    )
    return path


def smooth_image(rng: np.random.Generator, h: int, w: int, channels: int = 3) -> np.ndarray:
    """A natural-looking random ``(h, w, channels)`` uint8 image (smooth blobs + edges + noise)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.zeros((h, w, channels))
    for c in range(channels):
        for _ in range(4):
            fy, fx, ph = rng.uniform(0.02, 0.25), rng.uniform(0.02, 0.25), rng.uniform(0, 6.28)
            img[..., c] += np.sin(fy * yy + ph) * np.cos(fx * xx - ph)
        img[..., c] += (xx > rng.uniform(0, w)) * 1.5  # a sharp edge
    img = (img - img.min()) / (img.max() - img.min() + 1e-9)
    img = img * 220 + 15 + rng.normal(0, 2, img.shape)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def write_images(
    folder: Path, count: int, size=(60, 72), seed: int = 0, grey_every: int = 0
) -> list[Path]:
    """Write ``count`` PNGs of ``size=(h, w)`` into ``folder``; every ``grey_every``-th one grey."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(count):
        grey = grey_every and i % grey_every == grey_every - 1
        arr = smooth_image(rng, size[0], size[1], 1 if grey else 3)
        p = folder / f"img_{i:03d}.png"
        Image.fromarray(arr[..., 0] if grey else arr).save(p)
        paths.append(p)
    return paths


@pytest.fixture
def image_dirs(tmp_path) -> tuple[Path, Path]:
    """``(train_dir, val_dir)`` with 6 train and 2 val tiny PNGs (one val image grey)."""
    train_dir, val_dir = tmp_path / "train", tmp_path / "val"
    write_images(train_dir, 6, size=(60, 72), seed=1)
    write_images(val_dir, 2, size=(45, 51), seed=2, grey_every=2)
    return train_dir, val_dir


def compose_train(overrides: list[str] | None = None, output_dir: Path | None = None):
    """Compose ``conf/train.yaml`` as Hydra would (``${hydra:…}`` resolvable), for in-process tests."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    from srlab.cli.config import CONFIG_DIR

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("train", overrides=list(overrides or []), return_hydra_config=True)
    if output_dir is not None:
        with open_dict(cfg):
            cfg.hydra.runtime.output_dir = str(output_dir)
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]  # as in a real Hydra app: ${hydra:…} reads HydraConfig, not cfg.hydra
    return cfg


def fast_overrides(train_dir: Path, val_dir: Path, steps: int = 3) -> list[str]:
    """Overrides for a seconds-long CPU run on the tiny image folders."""
    return [
        "data=folder",
        f"data.train_dir={train_dir}",
        f"data.val_dir={val_dir}",
        "data.batch_size=4",
        "data.patches_per_epoch=8",
        "data.num_workers=0",
        "data.patch_size=24",
        "trainer=cpu",
        f"trainer.max_steps={steps}",
        "trainer.log_every_n_steps=1",
        "trainer.enable_model_summary=false",
        "logger=none",
        "~callbacks.progress_bar",
    ]


def pytest_collection_modifyitems(config, items) -> None:
    """``gpu`` tests skip (rather than fail) on a machine without CUDA."""
    if not any(item.get_closest_marker("gpu") for item in items):
        return
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="CUDA not available")
    for item in items:
        if item.get_closest_marker("gpu"):
            item.add_marker(skip)


# One test body for both devices: `def test_x(device)` runs on CPU always and on CUDA where there
# is one (the CUDA case carries the `gpu` mark, so `-m gpu` selects it).
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)]


@pytest.fixture(params=DEVICES)
def device(request):
    """``torch.device`` of the test: ``cpu``, and ``cuda`` when available."""
    import torch

    return torch.device(request.param)


@pytest.fixture
def restore_precision():
    """Puts torch's float32 matmul precision back after a test that changes it."""
    import torch

    saved = torch.get_float32_matmul_precision()
    yield
    torch.set_float32_matmul_precision(saved)


@pytest.fixture
def shared_data() -> Path:
    """``../shared/data`` (Set5, Set14, T91); tests that need it skip when it is absent."""
    if not (SHARED_DATA / "Set5").is_dir():
        pytest.skip(
            f"shared benchmark data not found at {SHARED_DATA} (CI has it; set SRLAB_SHARED_DATA)"
        )
    return SHARED_DATA


@pytest.fixture(scope="session")
def compare_run(tmp_path_factory) -> dict:
    """``python -m srlab.compare`` run once per session on generated images (two hand-made
    checkpoints and bicubic, a fake seed sweep for the training view); see tests/test_compare.py."""
    from tests.test_compare import run_compare_cli

    return run_compare_cli(tmp_path_factory.mktemp("compare"))
