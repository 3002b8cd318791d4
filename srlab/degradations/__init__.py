"""Degradations: pure batched tensor functions and small modules that turn HR into LR."""

from srlab.degradations.base import BicubicDegradation, Degradation
from srlab.degradations.resize import from_uint8, imresize, quantize, to_uint8

__all__ = ["BicubicDegradation", "Degradation", "imresize", "quantize", "to_uint8", "from_uint8"]
