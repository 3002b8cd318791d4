"""Evaluate a model on benchmark sets with the paper protocol and print a markdown table:

    python -m srlab.evaluate model=bicubic data=benchmark data.sets=[Set5,Set14] data.scales=[2,3,4]

Hydra composes ``conf/evaluate.yaml``. The model (``model.net`` of a model config) and the
degradation are instantiated once per scale; the scoring lives in :mod:`srlab.evaluation`.
"""

from __future__ import annotations

import json
import logging
import os

import hydra
from omegaconf import DictConfig, OmegaConf

from srlab.config import CONFIG_DIR
from srlab.errors import ConfigError, user_errors

log = logging.getLogger("srlab.evaluate")


def evaluate(cfg: DictConfig) -> list[dict]:
    """Run the configured evaluation; print (and save) the table; one dict per (set, scale)."""
    from srlab.evaluation import evaluate as run_evaluation
    from srlab.evaluation import format_markdown, instantiate_for_scale

    scales = [int(s) for s in cfg.data.scales]
    sets = list(cfg.data.sets)
    if not scales or not sets:
        raise ConfigError("data.sets and data.scales must name at least one set and one scale")
    if cfg.table not in ("wide", "long"):
        raise ConfigError(f"table must be 'wide' or 'long', got {cfg.table!r}")
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


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="evaluate")
def _hydra_main(cfg: DictConfig) -> None:
    with user_errors():
        evaluate(cfg)


def main() -> None:
    """Console entry point (``python -m srlab.evaluate`` / ``srlab-evaluate``)."""
    _hydra_main()


if __name__ == "__main__":
    main()
