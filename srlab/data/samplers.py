"""An unpadded distributed sampler for evaluation: under DDP each image is scored exactly once.

Lightning gives every distributed dataloader a ``DistributedSampler``, which pads the dataset to a
multiple of the world size by repeating images: with 5 validation images on 2 processes, image 0
would be scored twice and the synchronised mean PSNR would be wrong. Evaluation loaders therefore
get :class:`UnpaddedDistributedSampler` (a ``DistributedSampler`` subclass, so Lightning keeps it):
rank ``r`` of ``n`` takes images ``r, r + n, r + 2n, …`` and shards may differ in length by one.
Safe for evaluation only (no gradient all-reduce depends on equal step counts); the metrics
(:mod:`srlab.protocol.metrics`) sum per-image values and counts across processes.
"""

from __future__ import annotations

from collections.abc import Iterator

from torch.utils.data import Dataset, DistributedSampler


class UnpaddedDistributedSampler(DistributedSampler):
    """Strided, in-order shard of ``dataset`` for ``rank`` of ``num_replicas``, no repetition."""

    def __init__(self, dataset: Dataset, num_replicas: int, rank: int) -> None:
        super().__init__(
            dataset, num_replicas=num_replicas, rank=rank, shuffle=False, drop_last=False
        )
        self.num_samples = len(range(rank, len(dataset), num_replicas))  # type: ignore[arg-type]
        self.total_size = len(dataset)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, self.total_size, self.num_replicas))

    def __len__(self) -> int:
        return self.num_samples


def evaluation_sampler(dataset: Dataset, trainer) -> UnpaddedDistributedSampler | None:
    """The sampler of an evaluation loader: unpadded shards under DDP, ``None`` (in order) otherwise."""
    world = getattr(trainer, "world_size", 1) if trainer is not None else 1
    if world <= 1:
        return None
    return UnpaddedDistributedSampler(dataset, num_replicas=world, rank=trainer.global_rank)


__all__ = ["UnpaddedDistributedSampler", "evaluation_sampler"]
