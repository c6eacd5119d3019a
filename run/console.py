"""What a run shows in the terminal: one progress bar over the whole run, and no library chatter.

:class:`RunProgressBar` replaces Lightning's per-"epoch" bar; :func:`library_noise_filtered` hides the
specific warnings and info lines of Lightning and torch that tell a user of ``train.py`` nothing they can
act on. Everything else (our own messages, any other warning) still shows.
"""

from __future__ import annotations

import io
import logging
import os
import re
import sys
import warnings
from contextlib import contextmanager

import lightning as L
from lightning.pytorch.callbacks import ProgressBar
from tqdm import tqdm
from typing_extensions import override

# (message regex matched at the start of the warning, why it is noise here)
NOISY_WARNINGS = (
    # torch ≥ 2.10 deprecates a class that Lightning's own pytree helper still uses
    r"`isinstance\(treespec, LeafSpec\)` is deprecated",
    # Lightning's all_gather(sync_grads=True) under DDP calls torch's deprecated functional collective
    r"torch\.distributed\.nn\.functional\.all_gather is deprecated",
    # a resumed run continues in its own folder on purpose
    r"Checkpoint directory .* exists and is not empty",
    # an "epoch" is a block of step indices, not data: there is nothing to resume within it
    r"You're resuming from a checkpoint that ended before the epoch ended",
    r".*does not have many workers",
    r".*is smaller than the logging interval",
)
# info lines (regex matched at the start) of the loggers below
NOISY_LINES = (
    r"💡 Tip: ",  # advertisements for Lightning's cloud products
    r"(GPU|TPU|HPU) available: ",  # the pre-run block names the device settings that matter
    r"LOCAL_RANK: \d+ - CUDA_VISIBLE_DEVICES: ",
    r"`Trainer\.fit` stopped: `max_steps=\d+` reached\.",  # the normal end; the report follows
    r"Restor(ing|ed all) states from the checkpoint",  # the pre-run block says which checkpoint continues
)
NOISY_LOGGERS = (
    "lightning.pytorch.utilities.rank_zero",  # rank_zero_info goes through one of these two
    "lightning.fabric.utilities.rank_zero",
    "lightning.pytorch.accelerators.cuda",
)


class _LineFilter(logging.Filter):
    def __init__(self, patterns) -> None:
        super().__init__()
        self.pattern = re.compile("|".join(f"(?:{p})" for p in patterns))

    def filter(self, record: logging.LogRecord) -> bool:
        return self.pattern.match(record.getMessage().lstrip()) is None


@contextmanager
def library_noise_filtered():
    """Within the block, hide :data:`NOISY_WARNINGS` and the :data:`NOISY_LINES` of :data:`NOISY_LOGGERS`.

    Restores the warning filters and removes the log filters on exit (a test can run many fits).
    """
    line_filter = _LineFilter(NOISY_LINES)
    loggers = [logging.getLogger(name) for name in NOISY_LOGGERS]
    for logger in loggers:
        logger.addFilter(line_filter)
    try:
        with warnings.catch_warnings():
            for pattern in NOISY_WARNINGS:
                warnings.filterwarnings("ignore", message=pattern)
            yield
    finally:
        for logger in loggers:
            logger.removeFilter(line_filter)


class RunProgressBar(ProgressBar):
    """One bar over the whole run: optimizer steps done / ``max_steps``, elapsed time, ETA, free energy.

    Lightning's ``TQDMProgressBar`` starts a new bar every "epoch" (here a block of step indices) and has
    no whole-run ETA. This bar counts ``trainer.global_step`` up to ``trainer.max_steps``; on a resume it
    starts at the checkpoint's step, and its rate (so the ETA) counts only the steps of this session.
    It shows ``metric`` from the progress-bar metrics (the model logs ``train/free_energy`` there).
    Off on every process but rank zero.

    Args:
        file: where the bar goes (default: ``sys.stdout`` at train start).
        metric: progress-bar metric to show, and ``label``, its name on the bar.

    Attributes:
        bar: the ``tqdm`` bar of the current fit (``None`` before train start or when disabled).
    """

    def __init__(self, file=None, metric: str = "train/free_energy", label: str = "free energy") -> None:
        super().__init__()
        self.file, self.metric, self.label = file, metric, label
        self.bar: tqdm | None = None
        self._enabled = True

    @override
    def disable(self) -> None:
        self._enabled = False

    @override
    def enable(self) -> None:
        self._enabled = True

    @property
    @override
    def is_enabled(self) -> bool:
        return self._enabled

    @override
    def print(self, *args, **kwargs) -> None:
        if self.bar is not None:
            tqdm.write(" ".join(map(str, args)), file=self.bar.fp)
        else:
            print(*args, **kwargs)

    @override
    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self._enabled:
            return
        total = trainer.max_steps if trainer.max_steps and trainer.max_steps > 0 else None
        self.bar = terminal_bar(total=total, initial=trainer.global_step, desc="training", unit="step", file=self.file, smoothing=0, leave=True)

    @override
    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx: int) -> None:
        self._advance(trainer)
        if self.bar is not None and self.bar.total is not None and self.bar.n >= self.bar.total:
            self._close()  # the last step: the time and rate shown are training's, not the final summary's

    @override
    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._advance(trainer)
        self._close()

    @override
    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        self._close()

    def _advance(self, trainer: L.Trainer) -> None:
        if self.bar is None:
            return
        value = trainer.progress_bar_metrics.get(self.metric)
        if value is not None:
            self.bar.set_postfix_str(f"{self.label} {float(value):.5g}", refresh=False)
        self.bar.update(trainer.global_step - self.bar.n)

    def _close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def terminal_bar(file=None, **kwargs) -> tqdm:
    """A ``tqdm`` bar on ``file`` (default ``sys.stdout``) that fits the terminal; ``kwargs`` go to ``tqdm``."""
    file = file or sys.stdout
    # tqdm hides a bar on a terminal that reports 0 rows (some pseudo-terminals): a fixed size then
    columns, rows = _terminal_size(file)
    width = dict(dynamic_ncols=True) if columns > 0 and rows > 0 else dict(ncols=columns or 100, nrows=24)
    return tqdm(file=file, **width, **kwargs)


def stage_bar(total: int) -> tqdm:
    """The bar of the evaluation at the end of a run (``RunSummary(progress=stage_bar)``): ``total`` stages."""
    return terminal_bar(total=total, desc="final evaluation", unit="stage", leave=False)


def _terminal_size(file) -> tuple[int, int]:
    """``(columns, rows)`` of the terminal behind ``file``; ``(0, 0)`` when there is none."""
    try:
        size = os.get_terminal_size(file.fileno())
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):  # not a terminal, or no descriptor
        return 0, 0
    return size.columns, size.lines
