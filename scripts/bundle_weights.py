"""Ship a finished training run as a bundled model: weights in ``srlab/weights/<name>.safetensors``
and an entry in ``srlab/weights/registry.json`` with everything a reader of the results needs.

    python scripts/bundle_weights.py --run experiments/srcnn_x3/<timestamp> --name srcnn_x3 \
        --family srcnn --data-root ../shared/data --hardware "2-core x86 CPU (AVX-512, AMX)"

The entry records architecture, scale, colour mode, the training command and data, steps, patches
seen, wall time and hardware (from the run directory), and the Set5/Set14 PSNR/SSIM measured here
by :func:`srlab.protocol.scoring.evaluate`, the code of ``python -m srlab.evaluate``; the test
suite re-computes the Set5 figure and compares (``tests/checkpoints/test_bundled.py``).
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import torch
from omegaconf import OmegaConf

# Overrides that say where things go, not what was trained.
_NOT_RECIPE = (
    "paths.",
    "resume",
    "torch_threads",
    "callbacks.progress_bar",
    "hydra.",
    "logger",
    "init_from",
)


def _summary(run: Path) -> dict:
    """``summary.json`` of a finished run; for a run still going, the same keys from its
    ``metrics.jsonl`` (its last record and best validation so far)."""
    if (run / "summary.json").is_file():
        return json.loads((run / "summary.json").read_text())
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    scored = [r for r in records if r.get("val/psnr") is not None]
    best = max(scored, key=lambda r: r["val/psnr"])
    return {
        "global_step": records[-1]["step"],
        "wall_s": records[-1]["wall_s"],
        "best_step": best["step"],
        "best_val_psnr": best["val/psnr"],
    }


def training_record(run: Path) -> dict:
    """What the run directory says about how the network was trained."""
    cfg = OmegaConf.load(run / "config.yaml")
    summary = _summary(run)
    overrides = [str(o) for o in OmegaConf.load(run / ".hydra" / "overrides.yaml")]
    recipe = [o for o in overrides if not o.lstrip("+~").startswith(_NOT_RECIPE)]
    init = next((o.split("=", 1)[1] for o in overrides if o.startswith("init_from=")), None)
    source = cfg.data.train_source
    parts = [
        str(part._target_).rsplit(".", 1)[-1]
        for part in (source.sources if "sources" in source else [source])
    ]
    steps = int(summary["global_step"])
    batch = int(cfg.data.batch_size)
    record = {
        "train_command": "python -m srlab.train "
        + " ".join([*recipe, "paths.data_dir=../shared/data"]),
        "train_data": f"{' + '.join(parts)}, random {cfg.data.patch_size} px HR crops with flips "
        f"and rotations; model selection on {cfg.data.val_source.get('name', 'the validation set')}",
        "steps": steps,
        "batch_size": batch,
        "patch_size": int(cfg.data.patch_size),
        "patches_seen": steps * batch,
        "precision": str(cfg.trainer.precision),
        "wall_time_s": round(float(summary["wall_s"]), 1),
        "best_step": int(summary["best_step"]),
        "val_psnr": round(float(summary["best_val_psnr"]), 4),
    }
    if init:
        record["fine_tuned_from"] = init
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, required=True, help="the run directory")
    parser.add_argument("--name", required=True, help="bundled name, e.g. srcnn_x3")
    parser.add_argument("--family", default=None, help="ckpt=<family> picks by scale, e.g. srcnn")
    parser.add_argument("--description", default="")
    parser.add_argument("--data-root", default="../shared/data")
    parser.add_argument("--sets", nargs="+", default=["Set5", "Set14"])
    parser.add_argument("--hardware", default=f"{platform.processor() or platform.machine()} CPU")
    parser.add_argument("--weights-dir", type=Path, default=None, help="default: srlab/weights")
    args = parser.parse_args()

    from srlab.checkpoints import bundle_checkpoint, load_model
    from srlab.protocol.scoring import evaluate

    torch.set_num_threads(max(1, torch.get_num_threads()))
    ckpt = args.run / "checkpoints" / "best.ckpt"
    model = load_model(ckpt)
    results = evaluate(
        net_for_scale=lambda s: model.net,
        sets=args.sets,
        scales=[model.scale],
        root=args.data_root,
        device="cpu",
        seed=42,
        model_name=args.name,
        bicubic=True,
        log=print,
    )
    scores = {}
    for model_row, bicubic_row in zip(results[::2], results[1::2], strict=True):
        scores[f"{model_row.dataset}_x{model_row.scale}"] = {
            "psnr": round(model_row.psnr, 4),
            "ssim": round(model_row.ssim, 5),
            "bicubic_psnr": round(bicubic_row.psnr, 4),
            "bicubic_ssim": round(bicubic_row.ssim, 5),
        }
    extra = {
        **training_record(args.run),
        "hardware": args.hardware,
        "benchmarks": scores,
        "evaluate_command": f"python -m srlab.evaluate ckpt={args.name} "
        f"data.sets=[{','.join(args.sets)}] paths.data_dir={args.data_root}",
    }
    if args.family:
        extra["family"] = args.family
    kwargs = {"weights_dir": args.weights_dir} if args.weights_dir else {}
    out = bundle_checkpoint(ckpt, args.name, args.description, extra, **kwargs)
    print(f"bundled {out} ({out.stat().st_size / 1024:.0f} kB)")
    print(json.dumps(extra, indent=2))


if __name__ == "__main__":
    main()
