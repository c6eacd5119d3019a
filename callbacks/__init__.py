"""Lightning callbacks of a run: the sample metrics (``metrics``: exact when enumerable), TensorBoard images
(``images``), both on a step period (``periodic``), the run summary (``summary``: summary.json, samples.npy,
marginals.npy, PNGs), and the run's guards (``run_guards``: non-finite loss, last.ckpt, Ctrl-C/SIGTERM).

The three sample callbacks evaluate the model one way (``evaluation``: eval mode, fixed noise, each process's
share) and share small helpers (``common``); the figures they compute and draw come from :mod:`metrics` and :mod:`pictures`."""

from callbacks.images import SampleImages
from callbacks.metrics import SampleMetrics
from callbacks.summary import RunSummary

__all__ = ["RunSummary", "SampleImages", "SampleMetrics"]
