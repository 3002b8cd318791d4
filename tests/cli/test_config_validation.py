"""Config validation: each bad value is rejected at start-up with one line naming the key."""

from __future__ import annotations

import re

import pytest

from srlab.cli.checks import check_group_choices, group_options, validate_train_config
from srlab.errors import ConfigError
from tests.conftest import compose_train, fast_overrides, run_module


def _validate(image_dirs, tmp_path, *overrides, base=True):
    args = fast_overrides(*image_dirs) if base else []
    cfg = compose_train([*args, *overrides], output_dir=tmp_path / "run")
    validate_train_config(cfg)


def test_the_default_and_fast_configs_are_valid(tmp_path, image_dirs):
    _validate(image_dirs, tmp_path)
    _validate(image_dirs, tmp_path, base=False)


BAD_VALUES = [
    (["data.scale=1"], "data.scale=1: must be an integer >= 2 (2, 3, 4, …)"),
    (["data.scale=0"], "data.scale=0: must be an integer >= 2 (2, 3, 4, …)"),
    (["data.scale=2.5"], "data.scale=2.5: must be an integer >= 2 (2, 3, 4, …)"),
    (["data.scale=three"], "data.scale=three: must be an integer >= 2 (2, 3, 4, …)"),
    (
        ["data.patch_size=25"],
        "data.patch_size=25: must be divisible by data.scale=3 (e.g. 24 or 27)",
    ),
    (
        ["data.scale=4", "data.patch_size=2"],
        "data.patch_size=2: must be divisible by data.scale=4 (e.g. 4)",
    ),
    (["data.patch_size=-6"], "data.patch_size=-6: must be a positive integer"),
    (["data.batch_size=0"], "data.batch_size=0: must be an integer >= 1"),
    (
        ["data.patches_per_epoch=2"],
        "data.patches_per_epoch=2: smaller than data.batch_size=4, an epoch would have no batch",
    ),
    (["data.num_workers=-1"], "data.num_workers=-1: must be an integer >= 0"),
    (
        ["model.optimizer.lr=-0.001"],
        "model.optimizer.lr=-0.001: the learning rate must be a number > 0",
    ),
    (["model.optimizer.lr=0"], "model.optimizer.lr=0: the learning rate must be a number > 0"),
    (["trainer.max_steps=0"], "trainer.max_steps=0: must be an integer >= 1 (or -1: no limit)"),
    (
        ["resume=yes"],
        "resume=yes: must be 'auto' or null (use ckpt=PATH to resume a given checkpoint)",
    ),
    (
        ["callbacks.periodic_checkpoint.every_n_train_steps=0"],
        "callbacks.periodic_checkpoint.every_n_train_steps=0: must be an integer >= 1",
    ),
    (
        ["callbacks.nonfinite_guard.action=ignore"],
        "callbacks.nonfinite_guard.action=ignore: must be 'stop' or 'skip'",
    ),
]


@pytest.mark.parametrize(("overrides", "message"), BAD_VALUES, ids=[o[0][-1] for o in BAD_VALUES])
def test_bad_value_is_rejected_naming_the_key(tmp_path, image_dirs, overrides, message):
    with pytest.raises(ConfigError) as info:
        _validate(image_dirs, tmp_path, *overrides)
    assert str(info.value) == message


def test_missing_data_folder_names_the_key(tmp_path, image_dirs):
    missing = tmp_path / "no_such_dir"
    with pytest.raises(ConfigError) as info:
        _validate(image_dirs, tmp_path, f"data.train_dir={missing}")
    assert str(info.value) == f"data.train_dir={missing}: no such folder"


def test_required_value_not_set_names_the_key(tmp_path):
    cfg = compose_train(["data=folder"], output_dir=tmp_path / "run")
    with pytest.raises(ConfigError) as info:
        validate_train_config(cfg)
    assert (
        str(info.value)
        == "data.train_dir is required but not set: add data.train_dir=… to the command line"
    )


def test_missing_checkpoint_for_ckpt(tmp_path, image_dirs):
    path = tmp_path / "nope.ckpt"
    with pytest.raises(ConfigError) as info:
        _validate(image_dirs, tmp_path, f"ckpt={path}")
    assert str(info.value) == f"ckpt={path}: no such checkpoint file"


@pytest.mark.parametrize("group", ["model", "data", "degradation", "experiment"])
def test_unknown_group_option_lists_the_valid_ones(group):
    valid = group_options(group)
    assert valid, group
    with pytest.raises(ConfigError) as info:
        check_group_choices(["data.scale=2", f"{group}=nonexistent"])
    assert (
        str(info.value)
        == f"unknown {group} 'nonexistent' ({group}=nonexistent); valid: {', '.join(valid)}"
    )


def test_group_choices_accept_valid_options_sweeps_and_deletions():
    check_group_choices(
        ["model=srcnn", "data=folder", "degradation=bicubic", "experiment=null", "~logger"]
    )
    check_group_choices(
        ["-m", "model=srcnn,srcnn_915", "logger=none", "+trainer.foo=1", "data.scale=3"]
    )
    valid = ", ".join(group_options("model"))  # every conf/model/*.yaml, sorted
    assert valid.startswith("bicubic, ") and "srcnn" in valid.split(", ")
    with pytest.raises(
        ConfigError,
        match=re.escape(f"unknown model 'srcnx' (model=srcnx); did you mean srcnn? valid: {valid}"),
    ):
        check_group_choices(["-m", "model=srcnn,srcnx"])


def test_group_choices_include_the_users_config_dirs(tmp_path):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "my_own.yaml").write_text("_target_: x\n")
    check_group_choices([f"--config-dir={tmp_path}", "model=my_own"])
    check_group_choices([f"hydra.searchpath=[file://{tmp_path}]", "model=my_own"])
    with pytest.raises(ConfigError, match="unknown model 'my_owm'.*did you mean my_own"):
        check_group_choices(["--config-dir", str(tmp_path), "model=my_owm"])
    with pytest.raises(ConfigError, match="no such folder"):
        check_group_choices(["--config-dir=/elsewhere", "model=my_own"])


def _cli(args, cwd):
    return run_module("srlab.train", args, cwd, 120, {"SRLAB_DATA_DIR": str(cwd / "nodata")})


def test_cli_unknown_model_is_one_line(tmp_path):
    proc = _cli(["model=srcnx", "logger=none"], tmp_path)
    assert proc.returncode == 2
    valid = ", ".join(group_options("model"))
    assert (
        proc.stderr.strip()
        == f"srlab: error: unknown model 'srcnx' (model=srcnx); did you mean srcnn? valid: {valid}"
    )


def test_cli_bad_scale_is_one_line_and_starts_nothing(tmp_path, image_dirs):
    proc = _cli(
        [*fast_overrides(*image_dirs), "data.scale=1", f"paths.experiments_dir={tmp_path / 'exp'}"],
        tmp_path,
    )
    assert proc.returncode == 2
    assert (
        proc.stderr.strip().splitlines()[-1]
        == "srlab: error: data.scale=1: must be an integer >= 2 (2, 3, 4, …)"
    )
    assert "Traceback" not in proc.stderr
    assert not list((tmp_path / "exp").rglob("*.ckpt"))
