"""Composable degradation pipelines: sample every step's parameters, then apply the steps in order.

``DegradationPipeline(scale, steps)`` is a :class:`~srlab.degradations.base.Degradation`: called as
``pipeline(hr, generator) -> lr`` it first draws the parameters of all steps for the whole batch
(blur kernels, noise strengths and seeds, JPEG qualities, which samples skip which step) from
``generator``, then applies them. The same generator state therefore gives the same LR batch on any
call, and ``sample_params``/``apply_params`` can also be used separately (e.g. to degrade two
image sets with one draw). Steps come from Hydra configs as a name -> step mapping (``null``
removes a step), so ``degradation.steps.jpeg=null`` or ``degradation.steps.noise.p=0.5`` work
on the command line.

Real-ESRGAN-like order (``conf/degradation/realistic.yaml``)::

    HR -> blur -> bicubic x1/scale -> noise (Gaussian | Poisson) -> JPEG -> uint8 grid -> LR
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from srlab.degradations.base import Degradation, DegradationStep, Params, uniform
from srlab.degradations.resize import quantize as quantize_uint8


class OneOf(DegradationStep):
    """Each sample goes through exactly one of ``steps``, chosen with probabilities ``weights``.

    E.g. Real-ESRGAN's noise: Gaussian or Poisson, half of the samples each. All steps draw their
    parameters for the whole batch (so the draw does not depend on the choice). On the CPU each
    step is then applied to the samples that chose it only; on CUDA, where selecting them would
    read the choice back to the host (a stall every step), each step is applied to the whole
    batch and every sample keeps its chosen result. Steps must keep the image size, and their
    per-sample parameters have the batch as first dimension (0-d ones, such as seeds, are shared).

    Args:
        steps: the alternatives (a name -> step mapping or a sequence).
        weights: relative probabilities (default: equal).
        p: probability that a sample goes through any of them at all.
    """

    def __init__(
        self,
        steps: Mapping[str, DegradationStep] | Sequence[DegradationStep],
        weights: Sequence[float] | None = None,
        p: float = 1.0,
    ) -> None:
        super().__init__(p)
        self.steps = _as_module_dict(steps)
        if not self.steps:
            raise ValueError("OneOf needs at least one step")
        if any(s.resizes for s in self.steps.values()):
            raise ValueError("OneOf: alternatives must keep the image size")
        weights = [1.0] * len(self.steps) if weights is None else [float(w) for w in weights]
        if len(weights) != len(self.steps) or min(weights) < 0 or sum(weights) <= 0:
            raise ValueError(f"OneOf: need {len(self.steps)} non-negative weights, got {weights}")
        total = sum(weights)
        self.register_buffer(
            "cumulative",
            torch.tensor(weights, dtype=torch.float32).cumsum(0) / total,
            persistent=False,
        )

    def _draw(self, batch_size: int, generator, device) -> Params:
        u = uniform(batch_size, 0.0, 1.0, generator, device)
        choice = torch.searchsorted(self.cumulative.to(device), u, right=True).clamp(
            max=len(self.steps) - 1
        )
        params: Params = {"choice": choice}
        for name, step in self.steps.items():
            for key, value in step.sample_params(batch_size, generator, device).items():
                params[f"{name}.{key}"] = value
        return params

    def _degrade(self, x: torch.Tensor, params: Params) -> torch.Tensor:
        """``x (B,C,H,W)`` -> ``(B,C,H,W)``, each sample through its chosen step."""
        choice = params["choice"].to(x.device)
        out = x
        for i, (name, step) in enumerate(self.steps.items()):
            prefix = f"{name}."
            sub = {k[len(prefix) :]: v for k, v in params.items() if k.startswith(prefix)}
            if x.device.type != "cpu":
                out = torch.where(choice.view(-1, 1, 1, 1) == i, step.apply_params(x, sub), out)
                continue
            index = (choice == i).nonzero().flatten()
            if index.numel() == 0:
                continue
            sub = {k: _take(v, index, x.shape[0]) for k, v in sub.items()}
            out = out.index_copy(0, index, step.apply_params(x.index_select(0, index), sub))
        return out


class DegradationPipeline(Degradation):
    """HR -> LR through ``steps`` in order, parameters drawn per sample first, then applied.

    Args:
        scale: the SR factor; the steps must shrink ``(H, W)`` to ``(H/scale, W/scale)`` (checked).
        steps: name -> :class:`DegradationStep` (order kept; ``None`` entries are dropped), or a
            sequence of steps.
        quantize: round the LR to the uint8 grid at the end (LR images are 8-bit files);
            gradients pass straight through the rounding.

    Shapes: ``hr (B, C, H, W)``, C = 1 or 3, H and W divisible by ``scale`` ->
    ``lr (B, C, H/scale, W/scale)`` in [0, 1].
    """

    def __init__(
        self,
        scale: int,
        steps: Mapping[str, DegradationStep | None] | Sequence[DegradationStep],
        quantize: bool = True,
    ) -> None:
        super().__init__()
        self.scale = int(scale)
        self.steps = _as_module_dict(steps)
        self.quantize = quantize
        if not any(s.resizes for s in self.steps.values()):
            raise ValueError(
                "DegradationPipeline has no resizing step: add one such as "
                "srlab.degradations.base.Downscale (scale: ${data.scale})"
            )

    @property
    def deterministic(self) -> bool:  # type: ignore[override]
        """True when no step draws anything (e.g. a lone :class:`Downscale`)."""
        return all(step.deterministic and step.p == 1.0 for step in self.steps.values())

    def output_size(self, size: tuple[int, int]) -> tuple[int, int]:
        for step in self.steps.values():
            size = step.output_size(size)
        return size

    def sample_params(
        self, batch_size: int, generator: torch.Generator | None, device: torch.device
    ) -> dict[str, Params]:
        """Parameters of every step for ``batch_size`` samples: ``{step name: params}``."""
        return {
            name: step.sample_params(batch_size, generator, device)
            for name, step in self.steps.items()
        }

    def apply_params(self, hr: torch.Tensor, params: Mapping[str, Params]) -> torch.Tensor:
        """Degrade ``hr`` with drawn ``params``; a pure function of both."""
        h, w = hr.shape[-2:]
        expected = (h // self.scale, w // self.scale)
        if h % self.scale or w % self.scale or tuple(self.output_size((h, w))) != expected:
            raise ValueError(
                f"the pipeline maps {h}x{w} to {self.output_size((h, w))}, not to {expected}: "
                f"HR sizes must be divisible by scale={self.scale} and the resize steps must "
                "downscale by scale in total"
            )
        x = hr
        for name, step in self.steps.items():
            x = step.apply_params(x, params[name])
        return quantize_uint8(x) if self.quantize else x.clamp(0, 1)

    def forward(self, hr: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """``hr (B,C,H,W)`` in [0,1] -> ``lr (B,C,H/scale,W/scale)``; draws from ``generator``."""
        return self.apply_params(hr, self.sample_params(hr.shape[0], generator, hr.device))

    def extra_repr(self) -> str:
        return f"scale={self.scale}, quantize={self.quantize}"


def _take(value: torch.Tensor, index: torch.Tensor, batch_size: int) -> torch.Tensor:
    """The rows ``index`` of a per-sample parameter ``(B, …)``; shared (0-d) ones unchanged."""
    if value.dim() and value.shape[0] == batch_size:
        return value.index_select(0, index.to(value.device))
    return value


def _as_module_dict(steps) -> nn.ModuleDict:
    """Steps as a ModuleDict: a name -> step mapping (``None`` entries dropped) or a sequence."""
    if isinstance(steps, Mapping) or hasattr(steps, "items"):
        items = [(str(k), v) for k, v in steps.items() if v is not None]
    else:
        items = [
            (f"{i}_{type(s).__name__.lower()}", s) for i, s in enumerate(steps) if s is not None
        ]
    for name, step in items:
        if not isinstance(step, DegradationStep):
            raise TypeError(
                f"degradation step {name!r} is a {type(step).__name__}, not a DegradationStep"
            )
    return nn.ModuleDict(items)
