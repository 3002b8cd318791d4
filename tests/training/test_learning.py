"""Every model learns: a short CPU run of `debug=overfit` on a generated image must end well above
the model's bicubic baseline with the training loss far below where it started.

Parametrised over conf/model/*.yaml: a new model is tested without editing this file (`bicubic`
has no parameters, nothing to learn, and is skipped). Margins, measured with each model's own
config (x3, 300 steps of one 24x24 image, one thread; the weakest, SRCNN 9-1-5, gains +1.7 dB and
ends at 0.04 of its starting loss; the others +1.8 to +22 dB and 0.008 to 0.04):
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import compose_train
from tests.models.test_models import MODEL_CONFIGS

GAIN_DB = 1.0  # final validation PSNR at least this far above the model's own bicubic baseline
LOSS_FACTOR = 0.25  # mean loss of the last tenth of the steps at most this x the first tenth's


def cartoon_image(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """``(h, w, 3)`` uint8: flat-coloured discs and boxes with sharp edges, slight noise. Bicubic
    blurs such edges (27 dB at x3), so a network that learns can beat it by decibels."""
    img = np.zeros((h, w, 3)) + rng.uniform(40, 200, 3)
    yy, xx = np.mgrid[0:h, 0:w]
    for _ in range(8):
        cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(2, h / 4)
        if rng.uniform() < 0.5:
            mask = (yy - cy) ** 2 + (xx - cx) ** 2 < r * r
        else:
            mask = (abs(yy - cy) < r) & (abs(xx - cx) < rng.uniform(2, w / 4))
        img[mask] = rng.uniform(0, 255, 3)
    return np.clip(img + rng.normal(0, 1.5, img.shape), 0, 255).round().astype(np.uint8)


def overfit(name: str, tmp_path, extra: list[str] = ()) -> tuple[dict, list[float]] | None:
    """Train ``model=name`` with ``debug=overfit`` on one generated image; ``(metrics, losses)``,
    or ``None`` for a model without parameters."""
    from hydra.utils import instantiate
    from PIL import Image

    from srlab.train import train

    folder = tmp_path / "image"
    folder.mkdir()
    Image.fromarray(cartoon_image(np.random.default_rng(0), 24, 24)).save(folder / "a.png")
    cfg = compose_train(
        [
            "debug=overfit",
            f"model={name}",
            "data=folder",
            f"data.train_dir={folder}",
            f"data.val_dir={folder}",
            "trainer=cpu",
            "~callbacks.progress_bar",
            "torch_threads=1",
            *extra,
        ],
        output_dir=tmp_path / "run",
    )
    if not any(p.requires_grad for p in instantiate(cfg.model.net).parameters()):
        return None
    metrics = train(cfg)
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").open()]
    losses = [r["train/loss"] for r in records if "train/loss" in r]
    return metrics, losses


@pytest.mark.parametrize("name", MODEL_CONFIGS)
def test_model_learns_to_beat_bicubic(name, tmp_path):
    result = overfit(name, tmp_path)
    if result is None:
        pytest.skip(f"{name} has no parameters: nothing to learn")
    metrics, losses = result
    assert len(losses) == 300
    tenth = len(losses) // 10
    first, last = np.mean(losses[:tenth]), np.mean(losses[-tenth:])
    gain = metrics["val/psnr"] - metrics["val/psnr_bicubic"]
    assert gain >= GAIN_DB, f"{name}: {gain:+.2f} dB over bicubic"
    assert last <= LOSS_FACTOR * first, f"{name}: loss {first:.5f} -> {last:.5f}"
