"""Lightning callbacks used by srlab's configs (``conf/callbacks/``); one per module."""
