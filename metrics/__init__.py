"""Numbers of samples, computed from arrays (no Lightning): Fig. 1's figures (``coherence``: subject coherence, cat
share, and the rule for where they mean something), per-pixel uncertainty (``uncertainty``: pixel entropy, label
changes), the figures of integer samples as a torchmetrics ``Metric`` reduced over DDP processes (``sample_metrics``),
and bounds on KL and entropy (``bounds``, ``kl_lower``). Pictures are in :mod:`pictures`.

The callbacks, the run's report and the benchmarks all take their figures from here."""
