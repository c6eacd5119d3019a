"""``train(config) -> RunResult``: one run, built, trained and reported; what ``train.py`` and the benchmarks call."""

from __future__ import annotations

import signal
import sys
from dataclasses import dataclass
from pathlib import Path

from callbacks.run_guards import NonFiniteLossError
from run import console
from run.build import BuiltRun, build
from run.config import RunConfig
from run.report import report
from run.threads import use_threads


@dataclass(frozen=True)
class RunResult:
    """What a run gave.

    Attributes:
        summary: what ``summary.json`` holds (rank zero of a finished run; ``None`` on other processes and
            when training stopped early).
        folder: the run folder, ``<root_dir>/lightning_logs/version_N/`` (a resumed run's own).
        exit_code: 0 finished; 1 the loss or a parameter became non-finite (the last good checkpoint is kept);
            130 / 143 stopped by Ctrl-C / SIGTERM after saving ``last.ckpt``.
    """

    summary: dict | None
    folder: Path
    exit_code: int


def train(config: RunConfig) -> RunResult:
    """Build the run of ``config``, say what it will do, train, and report its figures and files.

    Raises:
        UsageError: bad input (a ``ValueError`` naming the config's fields or the owner's arguments), found
            before anything is written. An exception once training runs is a bug and keeps its traceback.
    """
    use_threads(config.threads)
    built = build(config)
    exit_code = fit(built)
    summary = built.summary.summary if exit_code == 0 else None
    folder = built.summary.folder or Path(built.logger.log_dir)
    if summary is not None and built.trainer.is_global_zero:
        report(summary, folder, built.root)
    return RunResult(summary, folder, exit_code)


def fit(built: BuiltRun) -> int:
    """Train what :func:`~run.build.build` built. Returns the exit code (see :class:`RunResult`)."""
    trainer, interrupt = built.trainer, built.interrupt
    with console.library_noise_filtered():
        try:
            trainer.fit(built.model, datamodule=built.datamodule, ckpt_path=None if built.ckpt_path is None else str(built.ckpt_path))
        except SystemExit:  # Lightning's graceful shutdown after Ctrl-C
            if not trainer.interrupted:
                raise
            print(f"train.py: interrupted at step {trainer.global_step}; continue with --resume last", file=sys.stderr)
            return 130
        except NonFiniteLossError as err:
            print(f"train.py: error: {err}", file=sys.stderr)
            return 1
    if interrupt.stopped:
        if not trainer.is_global_zero:  # a non-zero exit of a DDP child makes Lightning kill every process
            return 0
        print(f"train.py: interrupted at step {trainer.global_step}; last.ckpt saved, continue with --resume last", file=sys.stderr)
        return 128 + (interrupt.signal or signal.SIGTERM)
    return 0
