"""Read an offline W&B run (``wandb/offline-run-*/run-*.wandb``) back in tests.

The file is W&B's transaction log: a 7-byte header (``:W&B``, magic 0xBEE1, version) then
LevelDB-style records in 32 KiB blocks (crc32 u32, length u16, type u8: 1 full, 2 first,
3 middle, 4 last), each payload a ``wandb_internal_pb2.Record`` protobuf. wandb no longer ships a
reader for it, and offline runs keep their config and summary only there.
"""

from __future__ import annotations

import json
import struct
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


def run_info(run_folder: Path) -> dict:
    """``{"group", "name", "tags", "config", "summary", "history_keys"}`` of an offline run folder."""
    (log_file,) = Path(run_folder).glob("run-*.wandb")
    info: dict = {"config": {}, "summary": {}, "history_keys": set(), "files": []}
    for rec in read_records(log_file):
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
