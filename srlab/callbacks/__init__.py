"""Lightning callbacks and plugins of srlab (checkpoints, training guards, logging panels)."""
