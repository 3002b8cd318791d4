"""Choosing W&B's mode without ever waiting on the network.

``wandb.init()`` with no API key raises (or prompts on a terminal); with a key but no route to the
server it blocks for about 100 s before failing. srlab therefore decides up front:

* ``WANDB_MODE`` set by the user (``online``, ``offline``, ``disabled``) is respected, except that
  ``online`` with an unreachable server falls back to offline;
* no API key (environment or ``~/.netrc``) -> offline;
* a key, but the server does not accept a TCP connection within 2 s -> offline.

Offline runs are written under the run directory (``wandb/offline-run-*``) and can be uploaded
later with ``wandb sync <run_dir>/wandb/offline-run-*``.
"""

from __future__ import annotations

import logging
import netrc
import os
import socket
from functools import lru_cache
from urllib.parse import urlparse

log = logging.getLogger(__name__)


def _has_api_key() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = (
        urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname
        or "api.wandb.ai"
    )
    try:
        path = os.environ.get("NETRC") or os.path.expanduser("~/.netrc")
        return os.path.isfile(path) and netrc.netrc(path).authenticators(host) is not None
    except (OSError, netrc.NetrcParseError):
        return False


def _server_reachable(timeout: float = 2.0) -> bool:
    url = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai"))
    host = url.hostname or "api.wandb.ai"
    port = url.port or (443 if url.scheme != "http" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


@lru_cache(maxsize=1)
def wandb_offline() -> bool:
    """True when W&B must run offline (decided once per process, logged once)."""
    mode = os.environ.get("WANDB_MODE", "").lower()
    if mode in ("offline", "dryrun", "disabled"):
        return True
    reason = None
    if not _has_api_key():
        reason = "no W&B API key found (WANDB_API_KEY or `wandb login`)"
    elif not _server_reachable():
        reason = "the W&B server is unreachable"
    if reason is None:
        return False
    log.warning(
        "W&B: running offline: %s. Upload later with `wandb sync <run_dir>/wandb/offline-run-*`.",
        reason,
    )
    return True
