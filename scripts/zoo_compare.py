#!/usr/bin/env python
"""Equal-budget model-zoo comparison at x3: train every model with ``experiment=zoo_x3``, then score
each best checkpoint on Set5 x3 and print one table.

    python scripts/zoo_compare.py --steps 5000 --trainer gpu --data-root ../shared/data
    python scripts/zoo_compare.py --steps 200 --trainer cpu --models fsrcnn,espcn logger=none

Every model gets the same steps, batch, HR patch size (conf/experiment/zoo_x3.yaml), training
images (``<data-root>/T91``) and seed; each keeps its own paper optimiser (conf/model/<name>.yaml).
Training runs are ordinary ``python -m srlab.train`` processes (one run directory each under
``--out``, one W&B group ``zoo_x3`` unless ``logger=...`` says otherwise); trailing ``key=value``
arguments are passed to every run as Hydra overrides.

Scoring is independent of the training process and is ``srlab.evaluate``'s: the best checkpoint is
rebuilt from the file alone (:func:`srlab.checkpoints.load_model`) and scored on Set5 x3 with the
paper protocol (:mod:`srlab.protocol.scoring`: HR mod-cropped, MATLAB bicubic x1/3 to uint8 LR, Y channel,
3-px border shaved), next to the papers' bicubic row. The table, with
wall times (whole training process: start-up, training, validation), goes to stdout and to
``<out>/results.md`` and ``<out>/results.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
ZOO = ["srcnn", "srcnn_deconv", "fsrcnn", "espcn", "vdsr", "edsr_baseline"]
SCALE = 3
if str(REPO_ROOT) not in sys.path:  # run as a plain script from anywhere: srlab is importable
    sys.path.insert(0, str(REPO_ROOT))


def validation_interval(steps: int, validations: int = 10) -> int:
    """Steps between validations: the largest divisor of ``steps`` giving at most ``validations``."""
    for count in range(min(validations, steps), 0, -1):
        if steps % count == 0:
            return steps // count
    return steps


def train_command(model: str, args: argparse.Namespace, run_dir: Path) -> list[str]:
    interval = validation_interval(args.steps)
    return [
        sys.executable,
        "-m",
        "srlab.train",
        "experiment=zoo_x3",
        f"model={model}",
        f"trainer={args.trainer}",
        f"trainer.max_steps={args.steps}",
        f"data.batch_size={args.batch_size}",
        f"data.patches_per_epoch={interval * args.batch_size}",
        f"paths.data_dir={args.data_root}",
        f"seed={args.seed}",
        f"hydra.run.dir={run_dir}",
        *args.overrides,
    ]


def evaluate_checkpoint(ckpt: Path, data_root: Path, scale: int, device: str) -> dict[str, float]:
    """Set5 PSNR of ``ckpt`` and of bicubic at ``scale``: what ``python -m srlab.evaluate
    ckpt=<ckpt> data.sets=[Set5] paths.data_dir=<data_root>`` computes, in this process."""
    from srlab.checkpoints import load_model
    from srlab.models.bicubic import Bicubic
    from srlab.protocol.scoring import evaluate

    model = load_model(ckpt, scale=scale, device=device)
    common = dict(sets=["Set5"], scales=[scale], root=str(data_root), device=device, seed=42)
    ours = evaluate(
        net_for_scale=lambda s: model.net, model_name=ckpt.parent.parent.name, **common
    )[0]
    # The papers' bicubic row: RGB bicubic, scored on Y.
    bicubic = evaluate(net_for_scale=lambda s: Bicubic(s, 3), model_name="bicubic", **common)[0]
    return {
        "psnr": ours.psnr,
        "ssim": ours.ssim,
        "psnr_bicubic": bicubic.psnr,
        "ssim_bicubic": bicubic.ssim,
        "params": sum(p.numel() for p in model.net.parameters()),
        "images": ours.images,
    }


def format_table(rows: list[dict], steps: int) -> str:
    lines = [
        f"| model | params | Set5 x{SCALE} PSNR (dB) | bicubic PSNR (dB) | gain (dB) | steps | wall time |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(
                f"| {r['model']} | — | failed: {r['error']} | — | — | {steps} | {r['wall_s']:.0f} s |"
            )
            continue
        lines.append(
            f"| {r['model']} | {r['params']:,} | {r['psnr']:.2f} | {r['psnr_bicubic']:.2f} "
            f"| {r['psnr'] - r['psnr_bicubic']:+.2f} | {r['steps']} | {r['wall_s']:.0f} s |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--steps", type=int, default=5000, help="training steps per model (default 5000)"
    )
    parser.add_argument(
        "--trainer", default="gpu", help="trainer config: gpu | cpu | default (default gpu)"
    )
    parser.add_argument(
        "--data-root", default="../shared/data", help="folder holding T91/ and Set5/"
    )
    parser.add_argument(
        "--models", default=",".join(ZOO), help=f"comma-separated (default {','.join(ZOO)})"
    )
    parser.add_argument(
        "--batch-size", type=int, default=32, help="training batch size (default 32)"
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--out", default=None, help="run directory root (default experiments/zoo_x3/<time>)"
    )
    parser.add_argument(
        "--eval-device", default=None, help="cpu | cuda (default: cuda for trainer=gpu)"
    )
    parser.add_argument(
        "overrides", nargs="*", help="Hydra overrides for every run, e.g. logger=csv"
    )
    args = parser.parse_args(argv)

    data_root = Path(args.data_root).resolve()
    args.data_root = str(data_root)
    for needed in ("T91", "Set5"):
        if not (data_root / needed).is_dir():
            print(f"zoo_compare: {data_root / needed} not found (--data-root)", file=sys.stderr)
            return 2
    experiments = Path(os.environ.get("SRLAB_EXPERIMENTS_DIR", "experiments"))
    stamp = dt.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    out = Path(args.out) if args.out else experiments / "zoo_x3" / stamp
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    device = args.eval_device or ("cuda" if args.trainer == "gpu" else "cpu")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    }

    rows = []
    for model in [m for m in args.models.split(",") if m]:
        run_dir = out / model
        cmd = train_command(model, args, run_dir)
        print(f"[zoo] {model}: {' '.join(cmd[1:])}", flush=True)
        start = time.perf_counter()
        proc = subprocess.run(cmd, env=env, cwd=os.getcwd())
        wall = time.perf_counter() - start
        ckpt = run_dir / "checkpoints" / "best.ckpt"
        if proc.returncode != 0 or not ckpt.is_file():
            rows.append(
                {
                    "model": model,
                    "error": f"exit {proc.returncode}",
                    "wall_s": wall,
                    "steps": args.steps,
                }
            )
            continue
        scores = evaluate_checkpoint(ckpt, data_root, SCALE, device)
        rows.append(
            {"model": model, **scores, "steps": args.steps, "wall_s": wall, "checkpoint": str(ckpt)}
        )
        print(
            f"[zoo] {model}: Set5 x{SCALE} {scores['psnr']:.2f} dB (bicubic {scores['psnr_bicubic']:.2f}),"
            f" {wall:.0f} s",
            flush=True,
        )

    table = format_table(rows, args.steps)
    header = (
        f"Equal budget: {args.steps} steps x batch {args.batch_size}, experiment=zoo_x3, trainer={args.trainer}, "
        f"data {data_root}/T91 -> Set5 x{SCALE}, seed {args.seed}, overrides {args.overrides or 'none'}"
    )
    print(f"\n{header}\n\n{table}")
    (out / "results.md").write_text(f"{header}\n\n{table}\n")
    (out / "results.json").write_text(json.dumps({"header": header, "rows": rows}, indent=2))
    print(f"\n[zoo] results: {out / 'results.md'}")
    return 1 if any("error" in r for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
