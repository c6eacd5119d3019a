"""The finish: schedules of Markov kernels (``schedule.py``), rounds of them until the convergence check passes
(``adaptive.py``), and the check itself (``convergence.py``). This file imports nothing heavy (settings read it)."""

DEFAULT_CAP = 64  # rounds an automatic finish runs at most (adaptive.py); the recipes' default
