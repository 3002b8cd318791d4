"""Measure srlab against a bare PyTorch loop: ``python -m srlab.bench [bench=quick|quality]``.

Hydra composes ``conf/bench.yaml``; the measuring is :mod:`srlab.benchmark`'s. Writes
``BENCHMARKS.md`` (``out=``) and prints the headline ratios last, one per line.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from srlab.cli.config import CONFIG_DIR
from srlab.errors import user_errors


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="bench")
def _hydra_main(cfg: DictConfig) -> None:
    from srlab.benchmark.runner import run

    with user_errors():
        path, headlines = run(cfg)
    print(f"benchmarks written to {path}", flush=True)
    print("\n".join(headlines), flush=True)


def main() -> None:
    """Console entry point (``python -m srlab.bench`` / ``srlab-bench``)."""
    from srlab.cli.app import prepare

    prepare("bench")  # --help, one-line errors for typos (before heavy imports)
    _hydra_main()


if __name__ == "__main__":
    main()
