"""Degradations: pure batched tensor functions and small modules that turn HR into LR.

Heavy optional work (kornia's JPEG codec) is imported lazily inside the functions that need it.
"""

from srlab.degradations.base import BicubicDegradation, Degradation, DegradationStep, Downscale
from srlab.degradations.blur import GaussianBlur, convolve_per_sample, gaussian_kernels
from srlab.degradations.jpeg import JPEG, jpeg_compress
from srlab.degradations.noise import GaussianNoise, PoissonNoise, gaussian_noise, poisson_noise
from srlab.degradations.pipeline import DegradationPipeline, OneOf
from srlab.degradations.resize import from_uint8, imresize, quantize, resized_length, to_uint8

__all__ = [
    "BicubicDegradation",
    "Degradation",
    "DegradationPipeline",
    "DegradationStep",
    "Downscale",
    "GaussianBlur",
    "GaussianNoise",
    "JPEG",
    "OneOf",
    "PoissonNoise",
    "convolve_per_sample",
    "from_uint8",
    "gaussian_kernels",
    "gaussian_noise",
    "imresize",
    "jpeg_compress",
    "poisson_noise",
    "quantize",
    "resized_length",
    "to_uint8",
]
