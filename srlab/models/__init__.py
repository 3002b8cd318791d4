"""SR networks: plain nn.Modules, one file per family. Every model maps ``lr (B,C,h,w)`` to
``sr (B,C,s*h,s*w)`` and exposes ``scale`` and ``in_channels`` (1 = Y, 3 = RGB).
Hydra's ``_target_`` is the registry (``conf/model/*.yaml``)."""
