"""The degradation contract: ``degrade(hr, generator) -> lr`` on batched float tensors.

A degradation maps HR images ``(B, C, H, W)`` in [0, 1] (C = 1 grey or 3 RGB) to LR images
``(B, C, H/s, W/s)`` in [0, 1]. Random ones draw all their parameters from the ``generator`` first
(one draw per sample) and apply them second — kornia's sample-then-apply — so a fixed generator
seed replays the same LR images, which is what validation does every epoch.

:class:`DegradationStep` is the building block of
:class:`~srlab.degradations.pipeline.DegradationPipeline`:
``sample_params(batch_size, generator, device) -> params`` draws every random number the step
needs (noise fields are drawn from a seed that is itself drawn here), and
``apply_params(x, params)`` is a pure, differentiable function of the image and those
parameters. ``p`` is the probability that a sample goes through the step at all (the others pass
unchanged).
"""

from __future__ import annotations

import hashlib
import weakref

import torch
from torch import nn

from srlab.degradations.resize import imresize, quantize, resized_length

Params = dict[str, torch.Tensor]


def uniform(
    n: int, low: float, high: float, generator: torch.Generator | None, device: torch.device
) -> torch.Tensor:
    """``n`` draws from U[low, high) as float32 on ``device``, drawn from ``generator``.

    Drawn on the generator's own device (a CPU generator can drive a CUDA pipeline, and then
    draws the same numbers as on a CPU) and moved.
    """
    gen_device = generator.device if generator is not None else device
    u = torch.rand(n, generator=generator, device=gen_device, dtype=torch.float32)
    return (low + (high - low) * u).to(device)


def bernoulli(
    n: int, p: float, generator: torch.Generator | None, device: torch.device
) -> torch.Tensor:
    """``n`` booleans, each True with probability ``p``, drawn from ``generator``."""
    if p >= 1:
        return torch.ones(n, dtype=torch.bool, device=device)
    if p <= 0:
        return torch.zeros(n, dtype=torch.bool, device=device)
    return uniform(n, 0.0, 1.0, generator, device) < p


def draw_seed(generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """A 62-bit seed drawn from ``generator``, for steps that draw noise fields: a 0-d int64 on
    the generator's device (``device`` without one), which is where the field is drawn
    (:func:`seeded_generator`).

    A CPU generator draws it. A CUDA generator's drawn number would have to be read back to seed
    the field's generator, which stalls the host until the device has finished all queued work,
    once per noise step: the seed is derived from the generator's host-side state instead
    (:func:`seed_from_state`), filled into a device tensor and remembered on the host.
    """
    gen_device = torch.device(generator.device if generator is not None else device)
    if gen_device.type == "cpu":
        return torch.randint(0, 2**62, (), generator=generator)
    if generator is None:
        index = gen_device.index if gen_device.index is not None else torch.cuda.current_device()
        generator = torch.cuda.default_generators[index]
    value = seed_from_state(generator)
    seed = torch.full((), value, dtype=torch.int64, device=gen_device)  # a fill: no copy, no read
    _HOST_SEEDS[id(seed)] = (
        weakref.ref(seed, lambda _, key=id(seed): _HOST_SEEDS.pop(key, None)),
        value,
    )
    return seed


# Host copies of device seeds made by draw_seed: id(tensor) -> (weak reference, value).
_HOST_SEEDS: dict[int, tuple[weakref.ref, int]] = {}


def seed_from_state(generator: torch.Generator) -> int:
    """A 62-bit seed that is a function of ``generator``'s state; advances the generator.

    ``get_state()`` of a CUDA generator is host memory (Philox seed and offset): hashing it reads
    nothing from the device. The generator is then advanced by one draw (a kernel launch, no
    read), so the next call gives another seed, and a replayed state gives the same one.
    """
    state = generator.get_state()
    digest = hashlib.blake2b(state.numpy().tobytes(), digest_size=8).digest()
    torch.empty(1, device=generator.device).uniform_(generator=generator)
    return int.from_bytes(digest, "little") >> 2


def host_value(seed: torch.Tensor) -> int:
    """The integer in a 0-d seed tensor, without a device read when :func:`draw_seed` made it."""
    entry = _HOST_SEEDS.get(id(seed))
    if entry is not None and entry[0]() is seed:
        return entry[1]
    return int(seed)  # a CPU tensor (free), or a device seed from elsewhere (one read)


def seeded_generator(seed: torch.Tensor) -> torch.Generator:
    """A generator seeded by a :func:`draw_seed` value, on the seed's device (replays the field).

    A CPU generator's parameters give CPU-drawn noise fields (moved to the image afterwards), so
    validation and ``srlab.evaluate``, which seed a CPU generator per image, make the same LR
    images on any device; a CUDA generator (training on a GPU) keeps the fields on the GPU.
    """
    return torch.Generator(device=seed.device).manual_seed(host_value(seed))


def check_range(
    name: str, value, low: float | None = None, high: float | None = None
) -> tuple[float, float]:
    """``value`` as a ``(lo, hi)`` float pair (a single number means ``(v, v)``), validated."""
    if isinstance(value, (int, float)):
        lo = hi = float(value)
    else:
        lo, hi = (float(v) for v in value)
    if lo > hi:
        raise ValueError(f"{name}: lower bound {lo} exceeds upper bound {hi}")
    if (low is not None and lo < low) or (high is not None and hi > high):
        raise ValueError(f"{name}: ({lo}, {hi}) outside [{low}, {high}]")
    return lo, hi


class Degradation(nn.Module):
    """Base class: subclasses implement ``forward(hr, generator=None) -> lr``.

    ``deterministic``: True when ``forward`` draws nothing from its generator, so that an image's
    LR is a function of the image alone (and of its position: a crop's LR equals the LR of the
    whole image cut at the crop, except near the crop's borders). Training then makes each
    image's LR once instead of every batch's (``data.lr_per_image``).
    """

    scale: int
    deterministic: bool = False

    def forward(self, hr: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        raise NotImplementedError


class DegradationStep(nn.Module):
    """One stage of a pipeline: parameters drawn by ``sample_params``, applied by ``apply_params``.

    Subclasses implement ``_draw(batch_size, generator, device) -> params`` and
    ``_degrade(x, params) -> x`` (all samples degraded); this class adds the per-sample probability
    ``p`` (samples not drawn keep their input) and ``forward(x, generator)`` for standalone use.
    Steps that change the image size set ``resizes = True`` and implement ``output_size``.

    Args:
        p: probability that a sample goes through this step.
    """

    resizes: bool = False
    # True for steps whose output is a function of the input alone (nothing drawn, p = 1).
    deterministic: bool = False

    def __init__(self, p: float = 1.0) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{type(self).__name__}: p must lie in [0, 1], got {p}")
        if self.resizes and p != 1.0:
            raise ValueError(f"{type(self).__name__} changes the image size, so p must be 1")
        self.p = float(p)

    def output_size(self, size: tuple[int, int]) -> tuple[int, int]:
        """Spatial size ``(H, W)`` of the output for an input of ``size``."""
        return size

    def sample_params(
        self, batch_size: int, generator: torch.Generator | None, device: torch.device
    ) -> Params:
        """Draw this step's parameters for ``batch_size`` samples from ``generator``."""
        params = self._draw(batch_size, generator, torch.device(device))
        if self.p < 1.0:
            params["applied"] = bernoulli(batch_size, self.p, generator, torch.device(device))
        return params

    def apply_params(self, x: torch.Tensor, params: Params) -> torch.Tensor:
        """``x (B,C,H,W)`` -> degraded ``(B,C,H',W')``; a pure function of ``x`` and ``params``."""
        applied = params.get("applied")
        # Skipping a step no sample takes needs the flags on the host: free on the CPU, a stall
        # on CUDA (where the step is computed and discarded by torch.where instead).
        if applied is not None and applied.device.type == "cpu" and not bool(applied.any()):
            return x
        out = self._degrade(x, params)
        if applied is None:
            return out
        return torch.where(applied.view(-1, 1, 1, 1), out, x)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.apply_params(x, self.sample_params(x.shape[0], generator, x.device))

    def _draw(
        self, batch_size: int, generator: torch.Generator | None, device: torch.device
    ) -> Params:
        return {}

    def _degrade(self, x: torch.Tensor, params: Params) -> torch.Tensor:
        raise NotImplementedError


class Downscale(DegradationStep):
    """MATLAB bicubic downscaling by ``scale`` (antialiased, symmetric borders); not random.

    Shapes: ``(B,C,H,W)`` -> ``(B,C,ceil(H/scale),ceil(W/scale))``.
    """

    resizes = True
    deterministic = True

    def __init__(self, scale: float, antialias: bool = True) -> None:
        super().__init__(p=1.0)
        if scale <= 0:
            raise ValueError(f"Downscale: scale must be positive, got {scale}")
        self.scale = scale
        self.antialias = antialias

    def output_size(self, size: tuple[int, int]) -> tuple[int, int]:
        return resized_length(size[0], 1.0 / self.scale), resized_length(size[1], 1.0 / self.scale)

    def _degrade(self, x: torch.Tensor, params: Params) -> torch.Tensor:
        return imresize(x, 1.0 / self.scale, antialias=self.antialias)

    def extra_repr(self) -> str:
        return f"scale={self.scale}, antialias={self.antialias}"


class BicubicDegradation(Degradation):
    """The classic SR setting: MATLAB bicubic downscaling by ``scale``, then (by default) rounding
    to the uint8 grid, since benchmark LR images are stored as 8-bit files. Deterministic; the
    ``generator`` is accepted for the contract and unused.

    Args:
        scale: integer downscaling factor.
        quantize: round the LR to multiples of 1/255 (the published protocol's uint8 LR).
    """

    deterministic = True

    def __init__(self, scale: int, quantize: bool = True) -> None:
        super().__init__()
        self.scale = int(scale)
        self.quantize = quantize

    def forward(self, hr: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """``hr (B,C,H,W)`` with H, W divisible by ``scale`` -> ``lr (B,C,H/scale,W/scale)``."""
        lr = imresize(hr, 1.0 / self.scale)
        return quantize(lr) if self.quantize else lr.clamp(0, 1)

    def extra_repr(self) -> str:
        return f"scale={self.scale}, quantize={self.quantize}"
