"""The run's TensorBoard logger: Lightning's, without the automatic ``epoch`` chart."""

from __future__ import annotations

from lightning.pytorch.loggers import TensorBoardLogger
from typing_extensions import override


class RunLogger(TensorBoardLogger):
    """A ``TensorBoardLogger`` that drops the ``epoch`` scalar Lightning adds to every logged batch.

    An "epoch" here is only a block of step indices (the data is the energy, not batches), so its chart
    says nothing, yet it would sit first in TensorBoard's list. Every other scalar passes unchanged.
    """

    @override
    def log_metrics(self, metrics: dict, step: int | None = None) -> None:
        metrics = {k: v for k, v in metrics.items() if k != "epoch"}
        if metrics:
            super().log_metrics(metrics, step)
