"""Time to quality: validation PSNR against wall time, for srlab and for a bare loop under the same
recipe, and for srlab's default precision against float32, after the same fixed number of steps.

srlab side: ``srlab.train.train`` (validation every ``val_every`` steps, read back from the run's
``metrics.jsonl``: its ``wall_s`` counts from the start of fitting, validation included). Bare
side: a hand-written loop with the same pieces a researcher would reuse — the DataModule's crop
dataset in a plain ``DataLoader`` (its crops cut from the LR made once per image, several batches
at a time, as srlab cuts them), the same degradation, network config, seed, optimizer,
scheduler, loss, precision and memory format — and validation by the protocol's
:func:`~srlab.protocol.scoring.score_batch` (float32, as srlab's) at the same steps.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from srlab.benchmark.common import Context, Section, scratch_dir, sync, train_config
from srlab.benchmark.training import PRECISION_LABELS, settings_of


class ValidationClock(L.Callback):
    """Wall time spent in validation (``ValidationClock.latest.seconds``)."""

    latest: ValidationClock | None = None

    def __init__(self) -> None:
        ValidationClock.latest = self
        self.seconds, self._start = 0.0, 0.0

    def on_validation_start(self, trainer, pl_module) -> None:
        self._start = time.perf_counter()

    def on_validation_end(self, trainer, pl_module) -> None:
        self.seconds += time.perf_counter() - self._start


@dataclass
class Curve:
    """Validation PSNR (dB) at ``(step, wall seconds)`` points of one run; ``val_s`` of the wall
    time went to validation."""

    label: str
    precision: str
    points: list[tuple[int, float, float]] = field(default_factory=list)
    total_s: float = 0.0
    val_s: float = 0.0

    @property
    def final(self) -> float:
        return self.points[-1][2]

    @property
    def best(self) -> float:
        return max(p[2] for p in self.points)


def recipe_overrides(ctx: Context, overrides: list[str], steps: int) -> list[str]:
    """srlab.train overrides of the recipe (the bench's, the section's, the budget)."""
    return [*ctx.train_overrides, *overrides, f"trainer.max_steps={steps}"]


def _epoch_length(cfg: DictConfig, val_every: int) -> None:
    from omegaconf import open_dict

    with open_dict(cfg):
        # One epoch = val_every steps: Lightning validates at every epoch end.
        cfg.data.patches_per_epoch = int(cfg.data.batch_size) * int(val_every)


def srlab_curve(overrides: list[str], val_every: int, run_dir: Path, label: str) -> Curve:
    from srlab.train import train

    clock = ["+callbacks.bench_valclock._target_=srlab.benchmark.quality.ValidationClock"]
    with train_config([*overrides, *clock], run_dir) as cfg:
        _epoch_length(cfg, val_every)
        precision = str(cfg.trainer.precision)
        start = time.perf_counter()
        train(cfg)
        total = time.perf_counter() - start
    curve = Curve(label, precision, total_s=total, val_s=ValidationClock.latest.seconds)
    seen = set()
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record.get("val/psnr") is not None and record["step"] not in seen:
            seen.add(record["step"])
            curve.points.append((int(record["step"]), float(record["wall_s"]), record["val/psnr"]))
    return curve


def validate(net: torch.nn.Module, datamodule, device: torch.device) -> float:
    """Mean validation PSNR by the protocol (the path ``SRModule.validation_step`` takes)."""
    from torch.utils.data import default_collate

    from srlab.protocol.scoring import score_batch

    net.eval()
    values = []
    for i in range(len(datamodule.val_set)):
        batch = default_collate([datamodule.val_set[i]])
        batch = datamodule.degrade({**batch, "hr": batch["hr"].to(device)}, training=False)
        values.append(score_batch(net, batch["lr"], batch["hr"], bicubic=False).psnr)
    net.train()
    return float(torch.cat(values).mean())


def bare_curve(overrides: list[str], val_every: int, run_dir: Path, label: str) -> Curve:
    """The hand-written loop under the recipe of ``overrides`` (see the module doc)."""
    import lightning as L
    from torch.utils.data import DataLoader

    from srlab.data.datamodule import CropsAhead, batches_ahead_for
    from srlab.data.datasets import collate_patches
    from srlab.protocol.colour import to_model_space

    with train_config(overrides, run_dir) as probe:
        _epoch_length(probe, val_every)
        cfg = OmegaConf.create(OmegaConf.to_container(probe, resolve=True))
    settings = settings_of(cfg, "bare")
    device = torch.device(settings.device)
    torch.set_num_threads(settings.threads)
    L.seed_everything(int(cfg.seed), verbose=False)
    datamodule = instantiate(cfg.data, degradation=instantiate(cfg.degradation))
    datamodule.setup("fit")
    net = instantiate(cfg.model.net).to(device)
    if settings.channels_last:
        net = net.to(memory_format=torch.channels_last)
    forward = torch.compile(net) if settings.compile else net
    optimizer = instantiate(cfg.model.optimizer)(net.parameters())
    scheduler = instantiate(cfg.model.scheduler)(optimizer) if cfg.model.get("scheduler") else None
    loss_fn = F.l1_loss if cfg.model.get("loss") == "l1" else F.mse_loss
    channels = int(cfg.model.net.get("in_channels", 3))

    def model_space(batch: dict) -> dict:
        return {k: to_model_space(batch[k], channels) for k in ("lr", "hr")}

    # The batches srlab makes: the LR made once per image where it can be (data.lr_per_image),
    # HR and LR crops cut several batches at a time on a CPU without workers.
    pairs = datamodule.make_image_pairs(model_space, device)
    loader = DataLoader(
        datamodule.train_set,
        batch_size=settings.batch,
        shuffle=True,
        num_workers=settings.workers,
        persistent_workers=settings.workers > 0,
        drop_last=True,
        collate_fn=collate_patches,
    )
    ahead = batches_ahead_for(
        cfg.data.get("batches_ahead", 1),
        device_type=device.type,
        num_workers=settings.workers,
        world_size=1,
        batch_size=settings.batch,
        patch_size=int(cfg.data.patch_size),
    )
    batches = CropsAhead(loader, ahead) if pairs is not None and ahead > 1 else loader
    steps, curve = int(cfg.trainer.max_steps), Curve(label, settings.precision)
    bf16, step, start = settings.precision == "bf16-mixed", 0, time.perf_counter()
    while step < steps:
        for batch in batches:
            batch = datamodule.degrade({k: v.to(device) for k, v in batch.items()}, training=True)
            lr, hr = to_model_space(batch["lr"], channels), to_model_space(batch["hr"], channels)
            if settings.channels_last:
                lr = lr.contiguous(memory_format=torch.channels_last)
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                loss = loss_fn(forward(lr), hr)
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            step += 1
            if step % val_every == 0 or step == steps:
                sync(device)
                val_start = time.perf_counter()
                psnr = validate(net, datamodule, device)
                curve.val_s += time.perf_counter() - val_start
                curve.points.append((step, time.perf_counter() - start, psnr))
            if step == steps:
                break
    curve.total_s = time.perf_counter() - start
    return curve


def alternative_precision(default: str) -> str:
    """The precision the default is measured against: fp32 for a lower-precision default, else
    bf16-mixed (where fp32 is the default, the run shows what bf16 would cost or gain)."""
    return "bf16-mixed" if default in ("32-true", "32") else "32-true"


def quality_section(
    ctx: Context,
    overrides: list[str],
    steps: int,
    val_every: int,
    runs: list[dict],
    key: str = "quality",
) -> Section:
    """Run every ``{"side": "srlab"|"bare", "precision": "default"|"alternative"|<Lightning value>,
    "seed": optional}`` of ``runs`` for ``steps`` steps with validation every ``val_every``
    (``alternative``: see :func:`alternative_precision`)."""
    base = recipe_overrides(ctx, overrides, steps)
    with scratch_dir(ctx.keep_dir) as run_dir, train_config(base, run_dir) as cfg:
        recipe = (
            f"{cfg.model.net._target_.rsplit('.', 1)[-1]} x{cfg.data.scale}, "
            f"{cfg.data.batch_size} x {cfg.data.patch_size} px HR patches, "
            f"{cfg.model.optimizer._target_.rsplit('.', 1)[-1]} lr {cfg.model.optimizer.lr}, "
            f"{steps} steps, validation every {val_every} steps"
        )
        default = str(cfg.trainer.precision)
    curves: list[tuple[str, Curve]] = []  # (side, curve)
    for run in runs:
        side, precision = str(run["side"]), str(run.get("precision", "default"))
        if precision == "alternative":
            precision = alternative_precision(default)
        is_default = precision in ("default", default)
        run_overrides = base + ([] if is_default else [f"trainer.precision={precision}"])
        label = f"{side} ({'default precision' if is_default else precision}"
        if run.get("seed") is not None:
            run_overrides.append(f"seed={int(run['seed'])}")
            label += f", seed {int(run['seed'])}"
        with scratch_dir(ctx.keep_dir) as run_dir:
            fn = srlab_curve if side == "srlab" else bare_curve
            curves.append((side, fn(run_overrides, val_every, Path(run_dir), label + ")")))
    title = "Time to quality: validation PSNR against wall time"
    section = Section(
        key,
        title if key == "quality" else f"{title} ({key})",
        [
            "run",
            "precision",
            "wall s",
            "of which validation",
            "s / step",
            "final val PSNR",
            "best val PSNR",
        ],
    )
    for _, c in curves:
        section.rows.append(
            [
                c.label,
                PRECISION_LABELS.get(c.precision, c.precision),
                f"{c.points[-1][1]:.1f}",
                f"{c.val_s:.1f} s ({100 * c.val_s / c.points[-1][1]:.0f}%)",
                f"{c.points[-1][1] / max(1, c.points[-1][0]):.3f}",
                f"{c.final:.3f}",
                f"{c.best:.3f}",
            ]
        )
    steps_seen = sorted({p[0] for _, c in curves for p in c.points})
    table = ["| run | " + " | ".join(f"step {s}" for s in steps_seen) + " |"]
    table.append("|---|" + "---:|" * len(steps_seen))
    for _, c in curves:
        at = {p[0]: p for p in c.points}
        cells = [f"{at[s][2]:.2f} dB @ {at[s][1]:.0f} s" if s in at else "" for s in steps_seen]
        table.append(f"| {c.label} | " + " | ".join(cells) + " |")
    section.extra = "PSNR (dB) @ wall time (s) at each validation:\n\n" + "\n".join(table) + "\n"
    section.notes.append(
        f"Recipe: {recipe}; overrides `{' '.join(overrides) or '(none)'}`. Wall time counts from "
        "the start of fitting and includes the validations; PSNR by the paper protocol (Y, "
        "scale px shaved, float32 network, uint8 output)."
    )
    section.headlines += _headlines(curves, default, recipe.split(",")[0], steps)
    return section


def _mean(values) -> float:
    values = list(values)
    return sum(values) / len(values)


def _headlines(curves: list[tuple[str, Curve]], default: str, model: str, steps: int) -> list[str]:
    """bf16 against fp32 (srlab runs) and srlab against bare (default precision), means over
    seeds."""
    out = []
    srlab = [c for side, c in curves if side == "srlab"]
    bf16 = [c for c in srlab if c.precision == "bf16-mixed"]
    fp32 = [c for c in srlab if c.precision in ("32-true", "32")]
    if bf16 and fp32:
        # Training time only: validation runs in float32 either way.
        train_s = [_mean(c.points[-1][1] - c.val_s for c in runs) for runs in (bf16, fp32)]
        a, b = _mean(c.final for c in bf16), _mean(c.final for c in fp32)
        seeds = f", mean of {len(bf16)} seeds" if len(bf16) > 1 else ""
        out.append(
            f"bf16-mixed vs fp32 ({model}, {steps} steps{seeds}): {train_s[1] / train_s[0]:.2f}x "
            f"faster training, val PSNR {a:.3f} vs {b:.3f} dB ({a - b:+.3f}); default here: "
            f"{PRECISION_LABELS.get(default, default)}"
        )
    ours = [c for side, c in curves if side == "srlab" and c.precision == default]
    bare = [c for side, c in curves if side == "bare" and c.precision == default]
    if ours and bare:
        a, b = _mean(c.points[-1][1] for c in ours), _mean(c.points[-1][1] for c in bare)
        out.append(
            f"time-to-quality speed srlab/bare ({steps} steps, validation included): {b / a:.2f} "
            f"({a:.0f} s vs {b:.0f} s), val PSNR {_mean(c.final for c in ours):.3f} vs "
            f"{_mean(c.final for c in bare):.3f} dB"
        )
    return out
