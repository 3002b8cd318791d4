"""Sweeps: the Optuna search runs and reports, the SLURM launcher config composes, runs are named."""

from __future__ import annotations

import math
import subprocess

import pytest

from tests.conftest import compose_train, fast_overrides, run_module


def _run_train(args: list[str], cwd, timeout: int = 240) -> subprocess.CompletedProcess:
    return run_module("srlab.train", args, cwd, timeout, {"SRLAB_DATA_DIR": str(cwd / "nodata")})


def test_optuna_search_runs_two_trials_and_writes_the_best_value(tmp_path, image_dirs):
    import json

    from omegaconf import OmegaConf

    exp = tmp_path / "experiments"
    args = [
        "hparams_search=srcnn_optuna",
        "hydra.sweeper.n_trials=2",
        "hydra.sweeper.sampler.n_startup_trials=2",
        f"paths.experiments_dir={exp}",
        *fast_overrides(*image_dirs, steps=2),  # its data.batch_size=4 fixes that search dimension
    ]
    proc = _run_train(args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]

    (results_file,) = exp.glob("optuna/*/optimization_results.yaml")
    results = OmegaConf.load(results_file)
    assert results.name == "optuna"
    best_value = float(results.best_value)
    assert math.isfinite(best_value)  # equals the best trial's val/psnr_best (below)
    assert set(results.best_params) == {
        "model.optimizer.lr",
        "model.net.n1",
        "model.net.n2",
        "model.net.f2",
    }
    assert 1e-5 <= results.best_params["model.optimizer.lr"] <= 3e-3

    # Two trials, each a run directory; the best value is the best trial's val/psnr_best.
    trials = sorted(p.parent for p in results_file.parent.glob("*/summary.json"))
    assert len(trials) == 2
    bests = [json.loads((t / "summary.json").read_text())["best_val_psnr"] for t in trials]
    assert best_value == pytest.approx(max(bests), abs=1e-6)
    # Each trial really ran the sampled network: its overrides are in its config.
    for t in trials:
        overrides = OmegaConf.load(t / ".hydra" / "overrides.yaml")
        f2 = next(int(o.split("=")[1]) for o in overrides if o.startswith("model.net.f2="))
        assert OmegaConf.load(t / "config.yaml").model.net.f2 == f2


def test_optuna_search_space_composes():
    cfg = compose_train(["hparams_search=srcnn_optuna"])
    assert cfg.optimized_metric == "val/psnr_best"
    from hydra.core.hydra_config import HydraConfig

    sweeper = HydraConfig.get().sweeper
    assert sweeper._target_.endswith("OptunaSweeper") and sweeper.direction == "maximize"
    assert set(sweeper.params) == {
        "model.optimizer.lr",
        "model.net.n1",
        "model.net.n2",
        "model.net.f2",
        "data.batch_size",
    }
    assert sweeper.params["model.optimizer.lr"].startswith("tag(log")


@pytest.mark.filterwarnings(
    r"ignore:\s*'hydra/launcher/submitit_slurm' is validated against ConfigStore schema"
)
def test_submitit_slurm_launcher_config_composes_and_type_checks():
    from hydra.core.hydra_config import HydraConfig
    from hydra.utils import get_class
    from hydra_plugins.hydra_submitit_launcher.config import SlurmQueueConf
    from omegaconf import OmegaConf

    compose_train(
        [
            "hydra/launcher=submitit_slurm",
            "hydra.launcher.partition=gpu",
            "hydra.launcher.tasks_per_node=4",
        ]
    )
    launcher = HydraConfig.get().launcher
    assert HydraConfig.get().runtime.choices["hydra/launcher"] == "submitit_slurm"
    assert get_class(launcher._target_).__name__ == "SlurmLauncher"
    # Every key is one the plugin knows, with the right type (a typo would raise here).
    merged = OmegaConf.merge(OmegaConf.structured(SlurmQueueConf), OmegaConf.to_container(launcher))
    assert merged.partition == "gpu" and merged.tasks_per_node == 4 and merged.gpus_per_node == 1
    assert merged.timeout_min == 240 and OmegaConf.to_container(merged)["submitit_folder"].endswith(
        ".submitit/%j"
    )


def test_run_name_keeps_hyperparameters_and_drops_paths_and_logging_knobs():
    from srlab.utils.run_names import key_overrides

    assert key_overrides(
        [
            "model=srcnn_915",
            "data.scale=2",
            "model.optimizer.lr=0.001",
            "model.net.n1=32",
            "paths.data_dir=/data",
            "data.train_dir=x",
            "logger=csv",
            "~callbacks.progress_bar",
            "trainer.log_every_n_steps=1",
            "data.num_workers=0",
            "+model.foo=3",
            "data=folder",
            "hydra.sweeper.n_trials=2",
        ]
    ) == ["lr=0.001", "n1=32", "foo=3", "data=folder"]


def test_run_name_group_and_tags_outside_a_sweep(tmp_path):
    cfg = compose_train(
        ["model=srcnn_935", "data.scale=2", "model.optimizer.lr=0.001"], output_dir=tmp_path
    )
    wandb_cfg = cfg.logger.wandb
    assert wandb_cfg.name == "srcnn_935_x2 lr=0.001"
    assert wandb_cfg.group == cfg.experiment_name == "srcnn_935_sample_x2"
    assert list(wandb_cfg.tags) == ["srcnn_935", "x2"]


def test_optuna_persistent_storage_works(tmp_path):
    """`hydra.sweeper.storage=sqlite:///…` (README): needs SQLAlchemy < 2 with optuna 2.10."""
    optuna = pytest.importorskip("optuna")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(study_name="s", storage=url, direction="maximize")
    study.optimize(lambda t: -((t.suggest_float("x", -1, 1)) ** 2), n_trials=2)
    again = optuna.load_study(study_name="s", storage=url)
    assert len(again.trials) == 2 and again.best_value == study.best_value
