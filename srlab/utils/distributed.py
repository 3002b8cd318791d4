"""Distributed training settings taken from the launcher's environment (torchrun, SLURM).

``conf/trainer/ddp.yaml`` reads ``devices`` and ``num_nodes`` through the resolvers below, so the
same config runs under ``torchrun --nproc_per_node=N``, under ``srun``/submitit on SLURM (one task
per device), and alone (``devices: auto``; Lightning then starts the processes itself).
Lightning checks the product against the world size it sees and fails loudly on a mismatch.
"""

from __future__ import annotations

import os

from srlab.errors import ConfigError


def _slurm_batch_job() -> bool:
    # Lightning's own rule: srun/sbatch jobs, not an interactive `salloc` shell.
    return "SLURM_NTASKS" in os.environ and os.environ.get("SLURM_JOB_NAME") not in (
        "bash",
        "interactive",
    )


def ddp_devices() -> int | str:
    """Processes per node: torchrun's ``LOCAL_WORLD_SIZE``, SLURM's tasks per node, else ``auto``."""
    if "LOCAL_WORLD_SIZE" in os.environ:
        return int(os.environ["LOCAL_WORLD_SIZE"])
    if _slurm_batch_job() and os.environ.get("SLURM_NTASKS_PER_NODE"):
        return int(os.environ["SLURM_NTASKS_PER_NODE"])
    return "auto"


def ddp_num_nodes() -> int:
    """Nodes: ``WORLD_SIZE / LOCAL_WORLD_SIZE`` under torchrun, ``SLURM_NNODES`` under SLURM, else 1."""
    if "LOCAL_WORLD_SIZE" in os.environ and "WORLD_SIZE" in os.environ:
        return max(1, int(os.environ["WORLD_SIZE"]) // int(os.environ["LOCAL_WORLD_SIZE"]))
    if _slurm_batch_job():
        return int(os.environ.get("SLURM_NNODES") or os.environ.get("SLURM_JOB_NUM_NODES") or 1)
    return 1


def check_launch(trainer) -> None:
    """Refuse Lightning's script launcher inside a Hydra ``-m`` sweep.

    That launcher starts ranks 1..N-1 by re-running the command line, which inside a sweep would
    start a whole new sweep per rank. Sweeps with DDP jobs need processes started outside
    Lightning: ``hydra/launcher=submitit_slurm`` (one task per device) or torchrun per job.
    """
    # Exported by lightning.pytorch.strategies.launchers (its __all__), despite the underscore.
    from lightning.pytorch.strategies.launchers import _SubprocessScriptLauncher

    from srlab.utils.run_names import in_sweep

    launcher = getattr(trainer.strategy, "launcher", None)
    env = getattr(trainer.strategy, "cluster_environment", None)
    if (
        in_sweep()
        and isinstance(launcher, _SubprocessScriptLauncher)
        and env is not None
        and not env.creates_processes_externally
        and trainer.world_size > 1
    ):
        raise ConfigError(
            "trainer=ddp inside a -m sweep needs its processes started outside Lightning: use "
            "hydra/launcher=submitit_slurm (tasks_per_node = devices) or run each job with torchrun."
        )
