"""Lightning callbacks of srlab; each module holds one, referenced by ``_target_`` in conf/callbacks/."""
