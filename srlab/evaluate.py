"""Evaluate a model on benchmark sets with the paper protocol and print a markdown table:

    python -m srlab.evaluate model=bicubic data=benchmark data.sets=[Set5,Set14] data.scales=[2,3,4]
    python -m srlab.evaluate ckpt=experiments/<run> data.sets=[Set5,Set14,BSD100,Urban100]

Hydra composes ``conf/evaluate.yaml``. The model (``model.net`` of a model config) and the
degradation are instantiated once per scale; the scoring lives in :mod:`srlab.protocol.scoring`.

With ``ckpt=`` (a ``.ckpt`` file, a run directory, a bundled name; see :mod:`srlab.checkpoints`)
the trained network is scored at the checkpoint's scale with the bicubic row beside it, and the
table is written next to the checkpoint as ``<stem>_eval.md`` and ``<stem>_eval.csv`` (plus
``<stem>_eval_per_image.csv`` with ``per_image=true``; an earlier evaluation's files are kept, the
new ones are ``<stem>_eval-2.*``, …); ``logger=wandb`` logs the rows as W&B tables. The bicubic
row is the model's own baseline (``bicubic (Y)`` / ``bicubic (RGB)``, see
:mod:`srlab.protocol.scoring`), the ``val/psnr_bicubic`` of training.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from srlab.cli.config import CONFIG_DIR
from srlab.errors import ConfigError, user_errors

log = logging.getLogger("srlab.evaluate")


def evaluate(cfg: DictConfig) -> list[dict]:
    """Run the configured evaluation; print (and save) the table; one dict per (set, scale)."""
    from srlab.cli.config import instantiate_for_scale
    from srlab.protocol.scoring import evaluate as run_evaluation
    from srlab.protocol.tables import format_markdown

    scales = [int(s) for s in cfg.data.scales]
    sets = list(cfg.data.sets)
    if not scales or not sets:
        raise ConfigError("data.sets and data.scales must name at least one set and one scale")
    if cfg.table not in ("wide", "long"):
        raise ConfigError(f"table must be 'wide' or 'long', got {cfg.table!r}")
    if cfg.get("ckpt"):
        return evaluate_checkpoint(cfg, sets, scales)
    net_node = "model.net" if OmegaConf.select(cfg, "model.net") is not None else "model"
    results = run_evaluation(
        net_for_scale=lambda s: instantiate_for_scale(cfg, net_node, s),
        sets=sets,
        scales=scales,
        root=cfg.data.root,
        degradation_for_scale=lambda s: instantiate_for_scale(cfg, "degradation", s),
        device=cfg.device,
        seed=int(cfg.seed),
        round_y=bool(cfg.round_y),
        model_name=str(cfg.model_name),
        log=log.info,
        grey_as_rgb=bool(cfg.get("grey_as_rgb", False)),
    )
    table = format_markdown(results, layout=cfg.table)
    print(table, flush=True)
    if cfg.save:
        out = cfg.paths.output_dir
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "results.md"), "w") as f:
            f.write(table + "\n")
        with open(os.path.join(out, "results.json"), "w") as f:
            json.dump([r.as_dict() for r in results], f, indent=2)
        log.info("results saved in %s", out)
    return [r.as_dict(per_image=False) for r in results]


def _overridden(key: str) -> bool:
    """Whether ``key`` was given on the command line (Hydra's task overrides)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return False
    overrides = HydraConfig.get().overrides.task
    return any(o.lstrip("+~").split("=", 1)[0] == key for o in overrides)


def _label(model) -> str:
    """Row label of a loaded model: bundled name, or ``Arch (run/ckpt)`` for a file."""
    if model.is_bicubic or model.path is None:
        return "bicubic"
    if model.meta.get("label"):  # spandrel models: "SwinIR x2 (spandrel: <file stem>)"
        return model.meta["label"]
    if model.meta.get("sha256"):  # bundled
        return model.name
    ckpt = model.path
    run = ckpt.parent.parent if ckpt.parent.name == "checkpoints" else ckpt.parent
    return f"{type(model.net).__name__} ({run.name}/{ckpt.stem})"


def _result_dir(cfg: DictConfig, model) -> Path:
    """Next to the checkpoint; for bundled weights (inside the package) the run directory."""
    from srlab.checkpoints import WEIGHTS_DIR

    if model.path is not None and model.path.resolve().parent != WEIGHTS_DIR:
        return model.path.parent
    return Path(str(cfg.paths.output_dir))


def evaluate_checkpoint(cfg: DictConfig, sets: list[str], scales: list[int]) -> list[dict]:
    """``ckpt=`` mode of :func:`evaluate`: the checkpoint's network and bicubic, side by side."""
    from srlab.checkpoints import load_model
    from srlab.cli.config import instantiate_for_scale
    from srlab.protocol.scoring import evaluate as run_evaluation
    from srlab.protocol.tables import format_markdown

    net_config = None
    if _overridden("model") and OmegaConf.select(cfg, "model.net") is not None:
        net_config = OmegaConf.to_container(cfg.model.net, resolve=False)
    requested = scales if _overridden("data.scales") else [None]
    # One checkpoint: every explicitly requested scale must be its own (load_model refuses others).
    # A bundled family (ckpt=srcnn scale=[2,3,4]): its member of each scale, in one table.
    models = list({m.path: m for m in (load_model(cfg.ckpt, scale=s) for s in requested)}.values())
    family = len(models) > 1
    results = []
    for model in models:
        if net_config is not None:
            from srlab.checkpoints import check_compatible

            wanted = {k: v for k, v in net_config.items() if not (isinstance(v, str) and "${" in v)}
            check_compatible(model.meta, str(model.path), net_config=wanted)
        if model.is_bicubic:
            raise ConfigError("ckpt=bicubic: use model=bicubic scale=[…] for the bicubic baseline")
        label = (
            str(cfg.model_name)
            if _overridden("model_name")
            else (str(cfg.ckpt) if family else _label(model))
        )
        log.info("evaluating %s at x%d on %s", model.describe(), model.scale, ", ".join(sets))
        # The bicubic row is the model's own baseline, scored in the same pass: the same LR
        # images upsampled in the model's colour mode (labelled "bicubic (Y)" / "bicubic (RGB)").
        results += run_evaluation(
            net_for_scale=lambda s, net=model.net: net,
            sets=sets,
            scales=[model.scale],
            root=cfg.data.root,
            degradation_for_scale=lambda s: instantiate_for_scale(cfg, "degradation", s),
            device=cfg.device,
            seed=int(cfg.seed),
            round_y=bool(cfg.round_y),
            model_name=label,
            log=log.info,
            bicubic=True,
            grey_as_rgb=bool(cfg.get("grey_as_rgb", False)),
        )
    model = models[-1]
    table = format_markdown(results, layout=cfg.table)
    print(table, flush=True)
    folder = _result_dir(cfg, model)
    if cfg.save:
        stem = str(cfg.ckpt) if family else model.path.stem
        _write_results(folder, stem, table, results, bool(cfg.per_image))
    _log_tables(cfg, results, bool(cfg.per_image))
    _remove_unused_run_dir(Path(str(cfg.paths.output_dir)), keep=folder if cfg.save else None)
    return [r.as_dict(per_image=False) for r in results]


def _write_results(folder: Path, stem: str, table: str, results, per_image: bool) -> None:
    """``<stem>_eval.md/.csv`` (``_per_image.csv``) in ``folder``; never over an earlier
    evaluation's files: the next free ``<stem>_eval-2``, ``-3``, … is used instead, and said."""
    from srlab.protocol.tables import write_results
    from srlab.utils.files import numbered_free_stem

    suffixes = (".md", ".csv", "_per_image.csv")
    name = numbered_free_stem(folder, f"{stem}_eval", suffixes, separator="-")
    write_results(folder, name, table, results, per_image)
    kept = f" ({stem}_eval.md of an earlier evaluation is kept)" if name != f"{stem}_eval" else ""
    print(f"[srlab] evaluate: results in {folder / name}.{{md,csv}}{kept}", flush=True)


def _remove_unused_run_dir(run_dir: Path, keep: Path | None) -> None:
    """``ckpt=`` writes its tables next to the checkpoint: Hydra's run directory then holds only
    its own ``.hydra/`` and ``evaluate.log`` and is removed (with ``evaluate_<model>/`` if that is
    left empty), so evaluating a checkpoint leaves no stray folder."""
    import shutil

    if not run_dir.is_dir() or (keep is not None and keep.resolve() == run_dir.resolve()):
        return
    if not {p.name for p in run_dir.iterdir()} <= {".hydra", "evaluate.log"}:
        return  # e.g. a W&B logger's files
    shutil.rmtree(run_dir, ignore_errors=True)
    parent = run_dir.parent
    if parent.name.startswith("evaluate_") and not any(parent.iterdir()):
        parent.rmdir()


def _log_tables(cfg: DictConfig, results, per_image: bool) -> None:
    """W&B tables ``eval/results`` (and ``eval/per_image``) when a logger is configured."""
    from srlab.protocol.tables import PER_IMAGE_COLUMNS, SUMMARY_COLUMNS, rows
    from srlab.utils.instantiate import instantiate_loggers

    loggers = [lg for lg in instantiate_loggers(cfg.get("logger")) if hasattr(lg, "log_table")]
    for lg in loggers:
        lg.log_table(key="eval/results", columns=SUMMARY_COLUMNS, data=rows(results, False))
        if per_image:
            lg.log_table(key="eval/per_image", columns=PER_IMAGE_COLUMNS, data=rows(results, True))
    if loggers:
        import wandb

        if wandb.run is not None:
            log.info("W&B tables logged to %s", wandb.run.dir)
            wandb.finish()


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="evaluate")
def _hydra_main(cfg: DictConfig) -> None:
    with user_errors():
        evaluate(cfg)


def main() -> None:
    """Console entry point (``python -m srlab.evaluate`` / ``srlab-evaluate``)."""
    from srlab.cli.app import prepare

    prepare("evaluate")  # --help, one vocabulary, one-line errors for typos (before heavy imports)
    _hydra_main()


if __name__ == "__main__":
    main()
