"""Training: the LightningModule (:mod:`.lit_module`), its callbacks and ``resume=auto``."""
