"""Crash-safe checkpoint files: write beside the target, flush to disk, then rename over it.

Lightning's own save goes through an fsspec transaction that writes to the system temp folder and
*moves* the file into place; when the temp folder is on another file system that move is a copy, and a
kill -9 during it leaves a truncated checkpoint. ``os.replace`` within one folder is atomic on POSIX: a
reader sees the old complete file or the new complete file, never a part.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO
from typing_extensions import override


class AtomicCheckpointIO(TorchCheckpointIO):
    """A Trainer plugin: ``Trainer(plugins=[AtomicCheckpointIO()])``."""

    @override
    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options=None) -> None:
        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO takes no storage_options")
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.partial")
        with open(partial, "wb") as f:
            torch.save(checkpoint, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(partial, target)
