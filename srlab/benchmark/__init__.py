"""``python -m srlab.bench``: srlab against a bare PyTorch loop, measured in one process.

Modules, one per section of ``BENCHMARKS.md``:

* :mod:`~srlab.benchmark.training` — training throughput of the full srlab path (DataModule, LR
  made on the device, ``SRModule.training_step`` with the default callbacks) and of a bare loop on
  pre-made tensors with the same network, batch, precision, memory format and compile setting,
  their timed windows interleaved in one run; also the bare loop under each
  precision/memory-format setting (what the defaults rest on);
* :mod:`~srlab.benchmark.datapath` — the DataModule's loader and each degradation pipeline alone,
  as multiples of the model's training rate;
* :mod:`~srlab.benchmark.inference` — ``srlab.infer``'s upscaler (tiled, untiled) against a bare
  ``net(x)`` (and the network alone on the same tiles), image by image in turn, and the peak RSS
  of a large tiled upscale (in a child process);
* :mod:`~srlab.benchmark.quality` — validation PSNR against wall time, srlab and the bare loop
  under one recipe, bf16 and float32;
* :mod:`~srlab.benchmark.cuda` — on a GPU: CUDA graphs and where a step's time goes;
* :mod:`~srlab.benchmark.report` — the markdown file and the headline lines;
* :mod:`~srlab.benchmark.common` — timing (warm-up, median of repeats), machine description,
  composing training configs inside the running Hydra app.
"""
