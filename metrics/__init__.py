"""Figures of samples, numbers and pictures, computed from arrays (no Lightning): Fig. 1's figures (``fig1``:
subject coherence, cat share, and the rule for where they mean something), per-pixel uncertainty
(``uncertainty``: pixel entropy, label changes), the figures of integer samples as a torchmetrics ``Metric``
reduced over DDP processes (``metric``), and pictures of labelings and marginals (``rendering``).

The callbacks, the run's report and the benchmarks all take their figures from here."""
