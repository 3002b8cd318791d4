"""Interoperability with the community's model files (issue 15).

* :mod:`srlab.interop.loading`: what ``ckpt=`` does with a file that is not an srlab ``.ckpt``: an
  srlab ``.safetensors`` export is rebuilt from its header, anything else goes to spandrel.
* :mod:`srlab.interop.spandrel`: community checkpoints (SwinIR, HAT, RCAN, ESRGAN, SPAN, Compact,
  …) loaded by `spandrel <https://github.com/chaiNNer-org/spandrel>`_ and wrapped in
  :class:`~srlab.interop.spandrel.SpandrelNet`, which keeps srlab's model contract (size
  requirements met by padding and cropping back, never by resizing); tile and precision defaults
  from the descriptor.
* :mod:`srlab.interop.safetensors`: ``srlab.export format=safetensors`` (prefix-free state dict,
  srlab's metadata in the header) and loading such files back.
* :mod:`srlab.interop.spandrel_arch`: srlab's architectures as spandrel ``ArchSupport`` entries, so
  any spandrel-based tool in the same environment loads srlab's safetensors files once
  :func:`install_spandrel_extension` ran.

Nothing here imports spandrel at module import time: it pulls in torch and ~40 architectures, and
``srlab.infer``/``srlab.evaluate`` only need it for non-srlab files.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from spandrel import ArchRegistry, ArchSupport

__all__ = ["install_spandrel_extension"]


def install_spandrel_extension(registry: ArchRegistry | None = None) -> list[ArchSupport]:
    """Register srlab's architectures with spandrel (default: ``spandrel.MAIN_REGISTRY``).

    Idempotent; returns the entries added by this call (empty when already installed). After it,
    ``spandrel.ModelLoader().load_from_file("model.safetensors")`` loads files written by
    ``srlab.export format=safetensors``. See :mod:`srlab.interop.spandrel_arch`.
    """
    from srlab.interop.spandrel_arch import install

    return install(registry)
