"""Lightning callbacks and plugins used by srlab's configs (``conf/callbacks/``); one per module."""
