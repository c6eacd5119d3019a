"""Baselines and references with the model contract: mean field (``mean_field.py``), the variational autoregressive
network (``van.py``), chains of the finish's kernels from random labelings (``chains.py``), and the Swendsen–Wang
reference sampler of the zero-field Ising torus (``ising_swendsen_wang.py``)."""
