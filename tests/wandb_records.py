"""Read an offline W&B run (``wandb/offline-run-*/run-*.wandb``) back in tests.

The file is W&B's transaction log: a 7-byte header (``:W&B``, magic 0xBEE1, version) then
LevelDB-style records in 32 KiB blocks (crc32 u32, length u16, type u8: 1 full, 2 first,
3 middle, 4 last), each payload a ``wandb_internal_pb2.Record`` protobuf. wandb no longer ships a
reader for it, and offline runs keep their config and summary only there.
"""

from __future__ import annotations

import json
import struct
import time
from pathlib import Path

_BLOCK = 32 * 1024
_HEADER = 7


def read_records(path: Path) -> list:
    """Every ``Record`` protobuf in a ``run-*.wandb`` file, in order."""
    from wandb.proto import wandb_internal_pb2

    data = Path(path).read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B run log"
    records, pos, pending = [], _HEADER, b""
    while pos + _HEADER <= len(data):
        room = _BLOCK - pos % _BLOCK
        if room < _HEADER:  # block trailer padding
            pos += room
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + _HEADER])
        payload = data[pos + _HEADER : pos + _HEADER + length]
        pos += _HEADER + length
        if kind == 0 and length == 0:
            continue
        pending = payload if kind in (1, 2) else pending + payload
        if kind in (1, 4):
            rec = wandb_internal_pb2.Record()
            rec.ParseFromString(pending)
            records.append(rec)
            pending = b""
    return records


def complete_records(run_folder: Path, timeout: float = 60.0) -> list:
    """The records of an offline run folder's log once W&B has written all of it.

    ``wandb.finish()`` (wandb 0.31, offline) returns before its service process has flushed the
    run's log: right after it the file may hold only its 7-byte header, and the rest arrives a
    moment later. Reading it then made W&B tests fail now and then; wait for the run's ``exit``
    record (written last) instead.
    """
    (log_file,) = Path(run_folder).glob("run-*.wandb")
    deadline = time.monotonic() + timeout
    while True:
        records = read_records(log_file)
        if any(rec.WhichOneof("record_type") == "exit" for rec in records):
            return records
        if time.monotonic() > deadline:
            raise AssertionError(f"{log_file}: no exit record after {timeout:.0f} s")
        time.sleep(0.1)


def run_info(run_folder: Path) -> dict:
    """``{"group", "name", "tags", "config", "summary", "history_keys"}`` of an offline run folder
    (read once W&B has finished writing it: :func:`complete_records`)."""
    info: dict = {"config": {}, "summary": {}, "history_keys": set(), "files": []}
    for rec in complete_records(run_folder):
        kind = rec.WhichOneof("record_type")
        if kind == "run":
            info.update(group=rec.run.run_group, name=rec.run.display_name, tags=list(rec.run.tags))
            for item in rec.run.config.update:
                info["config"][item.key] = json.loads(item.value_json)
        elif kind == "config":
            for item in rec.config.update:
                info["config"][item.key] = json.loads(item.value_json)
        elif kind == "summary":
            for item in rec.summary.update:
                key = item.key or "/".join(item.nested_key)
                info["summary"][key] = json.loads(item.value_json)
        elif kind == "history":
            info["history_keys"].update(
                item.key or "/".join(item.nested_key) for item in rec.history.item
            )
    return info
