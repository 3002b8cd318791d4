"""Lightning callbacks and plugins used by srlab's configs (``conf/callbacks/``): checkpoints,
training guards, final validation."""
