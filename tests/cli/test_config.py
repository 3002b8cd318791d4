"""Every option of every config group composes, resolves and (where cheap) instantiates."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from tests.conftest import REPO_ROOT, compose_train

GROUPS = [
    "model",
    "data",
    "degradation",
    "trainer",
    "logger",
    "callbacks",
    "paths",
    "experiment",
    "debug",
    "hparams_search",
]
OPTIONS = [
    (group, p.relative_to(REPO_ROOT / "conf" / group).with_suffix("").as_posix())
    for group in GROUPS
    for p in sorted((REPO_ROOT / "conf" / group).rglob("*.yaml"))
]


def test_every_group_has_options():
    groups_with_options = {g for g, _ in OPTIONS}
    assert set(GROUPS) - {"hparams_search"} <= groups_with_options


@pytest.mark.parametrize("group,option", OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_option_composes_and_resolves(group, option, tmp_path):
    if group == "hparams_search":
        pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    cfg = compose_train([f"{group}={option}"], output_dir=tmp_path / "run")
    for key in list(cfg.data):  # required values (data=folder's train_dir/val_dir) get a folder
        if OmegaConf.is_missing(cfg.data, key):
            cfg.data[key] = str(tmp_path)
    container = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)
    assert container["data"]["scale"] >= 2
    assert cfg.model.net._target_ and cfg.trainer._target_


@pytest.mark.parametrize(
    "option", sorted(p.stem for p in (REPO_ROOT / "conf" / "degradation").glob("*.yaml"))
)
def test_degradation_options_instantiate_and_run(option, tmp_path):
    import torch
    from hydra.utils import instantiate

    cfg = compose_train([f"degradation={option}"], output_dir=tmp_path / "run")
    degradation = instantiate(cfg.degradation)
    hr = torch.rand(2, 3, 24, 24)
    lr = degradation(hr, generator=torch.Generator().manual_seed(0))
    assert lr.shape == (2, 3, 8, 8)
    assert 0 <= float(lr.min()) and float(lr.max()) <= 1


@pytest.mark.parametrize("option", ["default", "cpu"])
def test_trainer_options_instantiate(option, tmp_path):
    from hydra.utils import instantiate

    cfg = compose_train([f"trainer={option}", "trainer.max_steps=1"], output_dir=tmp_path / "run")
    trainer = instantiate(cfg.trainer, logger=False, enable_progress_bar=False)
    assert trainer.max_steps == 1


def test_experiment_name_and_run_dir_follow_model_data_scale(tmp_path):
    cfg = compose_train(["model=srcnn_915", "data.scale=2"], output_dir=tmp_path / "run")
    assert cfg.experiment_name == "srcnn_915_sample_x2"
    assert cfg.model.net.scale == 2 and cfg.degradation.scale == 2


def test_data_dir_defaults_to_env_var(tmp_path, monkeypatch):
    monkeypatch.setenv("SRLAB_DATA_DIR", str(tmp_path / "root"))
    cfg = compose_train([], output_dir=tmp_path / "run")
    assert cfg.paths.data_dir == str(tmp_path / "root")
    monkeypatch.delenv("SRLAB_DATA_DIR")
    assert compose_train([], output_dir=tmp_path / "run").paths.data_dir == "data"
