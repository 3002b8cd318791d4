"""What the README and the code's comments promise is what the code does (item 7)."""

from __future__ import annotations

import ast
import re

import pytest
import torch

from tests.conftest import REPO_ROOT, compose_train, fast_overrides
from tests.models.test_models import MODEL_CONFIGS

README = (REPO_ROOT / "README.md").read_text()


def test_item07_readme_names_every_model_config():
    """The overrides table and the quoted error message list exactly conf/model/*.yaml."""
    from srlab.cli.checks import check_group_choices
    from srlab.errors import ConfigError

    (row,) = [line for line in README.splitlines() if line.startswith("| `model=srcnn`")]
    assert sorted(re.findall(r"`(?:model=)?(\w+)`", row.split("|")[1])) == MODEL_CONFIGS
    with pytest.raises(ConfigError) as info:
        check_group_choices(["model=srcnx"])
    assert f"srlab: error: {info.value}" in README.replace("\n  ", " ")


def _keyword(call: ast.Call, name: str):
    return next((k.value for k in call.keywords if k.arg == name), None)


def test_item07_checkpoints_are_read_with_weights_only_true_everywhere():
    """The README says checkpoints are always read with torch.load(weights_only=True): no call in
    srlab passes weights_only=False, except with a restricted pickle_module (spandrel's, for
    community files), which runs no code either."""
    offenders = []
    for path in sorted((REPO_ROOT / "srlab").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            value = _keyword(node, "weights_only")
            if isinstance(value, ast.Constant) and value.value is False:
                if _keyword(node, "pickle_module") is None:
                    offenders.append(f"{path.relative_to(REPO_ROOT)}:{node.lineno}")
    assert offenders == []
    assert "always read with\n`torch.load(weights_only=True)`" in README or (
        "always read with `torch.load(weights_only=True)`" in README
    )


def test_item07_resume_from_an_epoch_end_checkpoint_is_exact(tmp_path, image_dirs):
    """The resume guarantee as the README and callbacks/checkpoint.py state it: single process,
    num_workers=0, a checkpoint at an epoch boundary (here the last.ckpt written after an epoch's
    validation, no periodic save) continues exactly as an uninterrupted run."""
    from srlab.train import train

    base = fast_overrides(*image_dirs, steps=8) + [
        "model=srcnn_915",
        "data.batch_size=2",
        "data.patches_per_epoch=8",  # 4 steps per epoch, validation after each
        "callbacks.periodic_checkpoint.every_n_train_steps=1000",
        "trainer.deterministic=true",
        "torch_threads=1",
        "seed=5",
    ]
    train(compose_train(base, output_dir=tmp_path / "uninterrupted"))
    train(compose_train([*base, "trainer.max_steps=4"], output_dir=tmp_path / "first"))
    first_last = tmp_path / "first" / "checkpoints" / "last.ckpt"
    assert torch.load(first_last, weights_only=True)["global_step"] == 4
    train(compose_train([*base, f"ckpt={first_last}"], output_dir=tmp_path / "resumed"))

    def weights(run: str) -> dict:
        ckpt = torch.load(tmp_path / run / "checkpoints" / "last.ckpt", weights_only=True)
        assert ckpt["global_step"] == 8
        return ckpt["state_dict"]

    reference, resumed = weights("uninterrupted"), weights("resumed")
    for key, value in reference.items():
        torch.testing.assert_close(resumed[key], value, rtol=1e-5, atol=1e-6, msg=key)
