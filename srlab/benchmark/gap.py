"""What srlab's step costs beyond the bare loop, part by part: the same run with parts of the
data path replaced by a pre-made batch.

:class:`PremadeDataModule` is :class:`~srlab.data.datamodule.SRDataModule` with one training batch
made once and reused from a chosen point on (validation is untouched):

* ``crops``: the DataLoader yields the same crops every step (no cropping). With the LR made per
  whole image (``data.lr_per_image``, the default for bicubic) these are HR and LR crops already
  in the network's colour mode; with ``data.lr_per_image=false`` they are uint8 HR crops whose LR
  and colour conversion are still made for every batch, ahead as srlab makes them
  (:class:`~srlab.data.datamodule.BatchesAhead`);
* ``model_space``: the whole batch is made once, in the network's colour mode, so
  ``SRModule.training_step`` converts nothing: what is left is Lightning's loop, srlab's module
  and callbacks.

Each variant is timed as ``python -m srlab.bench`` times srlab (windows interleaved with the bare
loop's): the differences between the rows are what cropping, making LR images and converting
colour cost inside a real step, which is more than in isolation (their memory traffic meets caches
the step's activations have just filled).
"""

from __future__ import annotations

import itertools

from srlab.data.datamodule import BatchesAhead, SRDataModule
from srlab.data.datasets import collate_patches

PREMADE = ("crops", "model_space")


class PremadeDataModule(SRDataModule):
    """:class:`SRDataModule` whose training batch is made once (see the module doc).

    Args:
        premade: ``"crops"`` or ``"model_space"``.
        **kwargs: :class:`SRDataModule`'s arguments.
    """

    def __init__(self, premade: str, **kwargs) -> None:
        if premade not in PREMADE:
            raise ValueError(f"premade must be one of {PREMADE}, got {premade!r}")
        super().__init__(**kwargs)
        self.premade = premade
        self._crops: dict | None = None
        self._made: dict | None = None

    def train_dataloader(self):
        if self._crops is None:  # Lightning has run setup("fit"): train_set exists
            self.make_image_pairs()  # as srlab's own loader does (data.lr_per_image)
            self._crops = collate_patches(self.train_set.__getitems__(list(range(self.batch_size))))
        steps = len(self.train_set) // self.batch_size
        ahead = self._batches_ahead()
        pairs = self.train_set.pairs is not None  # crops of HR and LR: nothing to make ahead
        if self.premade == "crops" and ahead > 1 and not pairs:  # LR made ahead, as srlab does
            return BatchesAhead([self._crops] * steps, self, ahead)
        return itertools.repeat(self._crops, steps)

    def on_after_batch_transfer(self, batch: dict, dataloader_idx: int) -> dict:
        training = self.trainer is not None and self.trainer.training
        if not training or self.premade == "crops":
            return super().on_after_batch_transfer(batch, dataloader_idx)
        if self._made is None:  # "model_space": made once, as BatchesAhead makes a batch
            (self._made,) = self.make_batches([batch])
        return self._made


def gap_overrides(premade: str) -> list[str]:
    """``srlab.train`` overrides that swap the DataModule for :class:`PremadeDataModule`."""
    return ["data._target_=srlab.benchmark.gap.PremadeDataModule", f"+data.premade={premade}"]
