"""Training throughput: the full srlab path against a bare PyTorch loop on pre-made tensors.

srlab side: ``srlab.train.train(cfg)`` itself, i.e. the DataModule with its workers, LR made on the
device by the degradation, ``SRModule.training_step`` with its logging, the default callbacks
(progress bar, checkpoints, LR monitor, metrics log, non-finite guard) and a CSV logger.
:class:`StepClock`, one more callback, reads the clock every ``window`` steps after ``warmup``
steps and, at each reading, runs one timed window of the bare loop in the same process (srlab's
clock stopped meanwhile): the two sides alternate window by window, so a machine whose speed
drifts by a few percent over a minute (shared hosts, turbo) cannot decide the ratio, as it could
when one side ran after the other. One long epoch: no validation falls inside the timed steps
(it runs once, after them).

Bare side: the same network (same config, same seed), batch, patch size, precision (autocast as
Lightning's ``bf16-mixed`` does it), memory format, compile setting, optimizer and loss, on one
pre-made batch of LR/HR tensors already in the network's colour space: what a researcher's own
``for`` loop costs at best.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import lightning as L
import torch
import torch.nn.functional as F
from omegaconf import DictConfig, OmegaConf

from srlab.benchmark.common import Rate, sync, time_windows, train_config

PRECISION_LABELS = {"32-true": "fp32", "32": "fp32", "bf16-mixed": "bf16"}


class StepClock(L.Callback):
    """Reads the clock at the end of training steps ``warmup``, ``warmup + window``, …

    The device is synchronised at those steps only. With ``StepClock.interleave`` set (a callable
    that runs one timed window of the bare loop and returns its rate), a bare window runs at every
    clock reading, outside srlab's timed windows: bare, srlab, bare, srlab, …, bare. Both sides then
    see the same machine at the same minutes; on a shared or throttling machine, measuring one
    side after the other lets a drift of a few percent decide the ratio.

    ``StepClock.latest`` is the last instance (it is built by Hydra inside ``train()``).
    """

    latest: StepClock | None = None
    interleave: Callable[[int], float] | None = None  # steps -> the bare loop's patches/s
    # Seconds spent in clock readings and bare windows so far: step timers (StepBreakdown)
    # subtract them from the time between two steps.
    paused_s: float = 0.0

    def __init__(self, warmup: int, window: int) -> None:
        StepClock.latest = self
        self.warmup, self.window = int(warmup), int(window)
        self.durations: list[float] = []  # seconds of each srlab window of ``window`` steps
        self.bare_rates: list[float] = []  # the interleaved bare windows, in order
        self._start: float | None = None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        if step < self.warmup or (step - self.warmup) % self.window:
            return
        sync(pl_module.device)
        now = time.perf_counter()
        if self._start is not None:
            self.durations.append(now - self._start)
        if StepClock.interleave is not None:
            self.bare_rates.append(StepClock.interleave(self.window))
            sync(pl_module.device)
        self._start = time.perf_counter()
        StepClock.paused_s += self._start - now

    def rates(self, batch: int) -> list[float]:
        """srlab's patches/s per window."""
        return [batch * self.window / d for d in self.durations if d > 0]

    def paired_ratios(self, batch: int) -> list[float]:
        """Each srlab window's rate over the mean rate of the bare windows just before and after it."""
        bare = self.bare_rates
        return [
            rate / ((bare[i] + bare[i + 1]) / 2)
            for i, rate in enumerate(self.rates(batch))
            if i + 1 < len(bare)
        ]


@dataclass
class Settings:
    """What both sides share, read from the resolved srlab config."""

    model: str
    network: str  # e.g. "9-5-5"
    device: str
    precision: str
    channels_last: bool
    compile: bool
    batch: int
    patch: int
    scale: int
    workers: int
    threads: int

    @property
    def label(self) -> str:
        parts = [PRECISION_LABELS.get(self.precision, self.precision)]
        if self.channels_last:
            parts.append("channels_last")
        if self.compile:
            parts.append("compile")
        return " + ".join(parts)


def network_label(net_cfg: DictConfig) -> str:
    """``9-5-5`` for SRCNN-like configs (f1-f2-f3), else the class name."""
    if all(k in net_cfg for k in ("f1", "f2", "f3")):
        return f"{net_cfg.f1}-{net_cfg.f2}-{net_cfg.f3}"
    return str(net_cfg._target_).rsplit(".", 1)[-1]


def settings_of(cfg: DictConfig, model: str) -> Settings:
    from srlab.utils.hardware import training_device_type

    return Settings(
        model=model,
        network=network_label(cfg.model.net),
        device=training_device_type(cfg.trainer.accelerator),
        precision=str(cfg.trainer.precision),
        channels_last=bool(cfg.model.get("channels_last", False)),
        compile=bool(cfg.model.get("compile", False)),
        batch=int(cfg.data.batch_size),
        patch=int(cfg.data.patch_size),
        scale=int(cfg.data.scale),
        workers=int(cfg.data.num_workers),
        threads=int(cfg.torch_threads or torch.get_num_threads()),
    )


@dataclass
class Interleaved:
    """srlab's windows and the bare loop's windows around them (:class:`StepClock`)."""

    srlab: Rate
    bare: Rate | None
    paired: list[float]  # each srlab window over its neighbouring bare windows
    window: int  # steps per window (each side)

    @property
    def ratio(self) -> float:
        """srlab/bare: the median of the paired ratios, or the ratio of the medians unpaired."""
        if self.paired:
            return statistics.median(self.paired)
        return self.srlab.median / self.bare.median


def srlab_rate(
    model: str,
    extra: list[str],
    warmup: int,
    window: int,
    repeats: int,
    run_dir,
    bare_window: Callable[[int], float] | None = None,
) -> tuple[Interleaved, Settings, DictConfig]:
    """Train with ``srlab.train`` for ``warmup + window * repeats`` steps; patches/s per window.

    ``window`` is rounded up to a multiple of the training batches the run makes ahead
    (``data.batches_ahead``): every window then pays for the same number of them.
    ``bare_window(steps)``: one timed window of the bare loop (returns patches/s), run before,
    between and after srlab's windows (:class:`StepClock`). Returns the windows, the settings both
    sides share and the resolved config of the run.
    """
    from omegaconf import open_dict

    from srlab.train import train

    overrides = [
        *extra,
        f"model={model}",
        "+callbacks.bench_clock._target_=srlab.benchmark.training.StepClock",
        f"+callbacks.bench_clock.warmup={warmup}",
    ]
    with train_config(overrides, run_dir) as cfg:
        ahead = made_ahead(cfg)
        window = -(-int(window) // ahead) * ahead
        steps = warmup + window * repeats
        with open_dict(cfg):
            cfg.trainer.max_steps = steps
            cfg.callbacks.bench_clock.window = window
            # One epoch longer than the run: no epoch-end validation among the timed steps.
            cfg.data.patches_per_epoch = int(cfg.data.batch_size) * (steps + 2)
        resolved = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
        StepClock.latest, StepClock.interleave = None, bare_window
        try:
            train(cfg)
        finally:
            StepClock.interleave = None
    clock = StepClock.latest
    batch = int(resolved.data.batch_size)
    rates = clock.rates(batch) if clock else []
    bare = Rate.of(clock.bare_rates) if clock and clock.bare_rates else None
    paired = clock.paired_ratios(batch) if clock and bare_window else []
    return Interleaved(Rate.of(rates), bare, paired, window), settings_of(resolved, model), resolved


def made_ahead(cfg: DictConfig) -> int:
    """The training batches a run of ``cfg`` makes together (``data.batches_ahead`` resolved)."""
    from srlab.data.datamodule import batches_ahead_for
    from srlab.utils.hardware import training_device_type

    devices = cfg.trainer.get("devices", 1)
    return batches_ahead_for(
        cfg.data.get("batches_ahead", 1),
        device_type=training_device_type(cfg.trainer.accelerator),
        num_workers=int(cfg.data.get("num_workers", 0)),
        world_size=devices if isinstance(devices, int) else 1,
        batch_size=int(cfg.data.batch_size),
        patch_size=int(cfg.data.patch_size),
    )


def premade_batch(cfg: DictConfig, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """One training batch as the srlab path makes it: ``(lr, hr)`` in the network's colour space.

    Shapes: ``lr (B, C, p/s, p/s)``, ``hr (B, C, p, p)``, C = the network's ``in_channels``.
    """
    from hydra.utils import instantiate
    from torch.utils.data import default_collate

    from srlab.protocol.colour import to_model_space

    datamodule = instantiate(cfg.data, degradation=instantiate(cfg.degradation))
    datamodule.setup("fit")
    dataset = datamodule.train_set
    batch = default_collate([dataset[i % len(dataset)] for i in range(int(cfg.data.batch_size))])
    batch = {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}
    batch = datamodule.degrade(batch, training=True)
    channels = int(cfg.model.net.get("in_channels", 3))
    return to_model_space(batch["lr"], channels), to_model_space(batch["hr"], channels)


class BareLoop:
    """A hand-written training step on fixed tensors: forward and loss, backward, optimizer step.

    Same network config and seed, optimizer, loss, precision (``bf16-mixed`` = autocast around
    forward and loss, as Lightning does), memory format and compile setting as ``settings``.
    """

    def __init__(
        self,
        cfg: DictConfig,
        settings: Settings,
        lr: torch.Tensor,
        hr: torch.Tensor,
        seed: int = 0,
        compile_mode: str | None = None,
    ) -> None:
        from hydra.utils import instantiate

        if settings.precision not in ("32-true", "32", "bf16-mixed"):
            raise ValueError(
                f"the bare loop supports 32-true and bf16-mixed, not {settings.precision}"
            )
        self.device = torch.device(settings.device)
        torch.manual_seed(seed)
        net = instantiate(cfg.model.net).to(self.device)
        if settings.channels_last:
            net = net.to(memory_format=torch.channels_last)
            lr = lr.contiguous(memory_format=torch.channels_last)
        self.lr, self.hr = lr.to(self.device), hr.to(self.device)
        self.net = net
        self.forward = torch.compile(net, mode=compile_mode) if settings.compile else net
        self.optimizer = instantiate(cfg.model.optimizer)(net.parameters())
        self.loss_fn = F.l1_loss if cfg.model.get("loss") == "l1" else F.mse_loss
        self.bf16 = settings.precision == "bf16-mixed"

    def forward_loss(self) -> torch.Tensor:
        self.optimizer.zero_grad(set_to_none=True)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            return self.loss_fn(self.forward(self.lr), self.hr)

    def backward(self, loss: torch.Tensor) -> None:
        loss.backward()

    def optimizer_step(self) -> None:
        self.optimizer.step()

    def step(self) -> None:
        self.backward(self.forward_loss())
        self.optimizer_step()

    def window_rate(self, steps: int) -> float:
        """Patches/s of ``steps`` timed steps (the device synchronised before and after)."""
        return time_windows(self.step, self.lr.shape[0], 0, steps, 1, self.device).median

    @property
    def parts(self):
        return self.forward_loss, self.backward, self.optimizer_step


def bare_rate(
    cfg: DictConfig,
    settings: Settings,
    warmup: int,
    window: int,
    repeats: int,
    batch: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> Rate:
    """Patches/s of the bare loop with ``settings`` (same timing windows as the srlab side)."""
    device = torch.device(settings.device)
    lr, hr = batch if batch is not None else premade_batch(cfg, device)
    loop = BareLoop(cfg, settings, lr, hr)
    return time_windows(loop.step, settings.batch, warmup, window, repeats, device)
