"""Callbacks: sample metrics (exact when enumerable), TensorBoard images, and the run summary."""

from callbacks.figures import fig1_figures
from callbacks.images import SampleImages
from callbacks.metrics import SampleMetrics
from callbacks.summary import RunSummary

__all__ = ["RunSummary", "SampleImages", "SampleMetrics", "fig1_figures"]
