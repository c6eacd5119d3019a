"""Pictures of samples, from arrays (no Lightning): labelings, marginals, uncertainty and the overview as images
(``rendering``). The numbers are in :mod:`metrics`."""
