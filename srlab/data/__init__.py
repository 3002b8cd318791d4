"""Data: image sources, datasets of HR crops, and the DataModule that makes LR on the device."""
