"""Research-grade model comparisons (``python -m srlab.compare``).

* :mod:`.stats` — paired bootstrap confidence intervals of per-image ΔPSNR;
* :mod:`.tables` — the paper table as markdown, CSV and LaTeX (booktabs);
* :mod:`.figure` — the paper figure (HR with boxes, zoomed crops per model; PNG + PDF);
* :mod:`.viewer` — the self-contained HTML viewer (tables, slider, synchronised zoom, error maps,
  training curves of seed groups);
* :mod:`.seeds` — grouping sweep runs that differ only by ``seed`` (used by ``srlab.report``);
* :mod:`.runner` — scoring the models with :func:`srlab.evaluation.evaluate_source` and writing all
  of the above.

Heavy libraries (torch, matplotlib) are imported inside the functions that need them.
"""
