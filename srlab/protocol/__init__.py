"""The evaluation protocol of the SR literature: colour conversion, metrics, and scoring."""
