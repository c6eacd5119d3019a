"""Callbacks: sample metrics (exact when enumerable), TensorBoard images, the run summary; and what a run
shows (``console``: the whole-run progress bar, library-noise filters; ``run_logger``: TensorBoard without
the epoch chart). Per-pixel uncertainty figures live in ``uncertainty``, Fig. 1's in ``figures``. The three
sample callbacks evaluate the model one way (``evaluation``), the sample figures a torchmetrics ``Metric``
reduced over DDP processes (``sample_figures``)."""

from callbacks.figures import fig1_figures
from callbacks.images import SampleImages
from callbacks.metrics import SampleMetrics
from callbacks.summary import RunSummary

__all__ = ["RunSummary", "SampleImages", "SampleMetrics", "fig1_figures"]
