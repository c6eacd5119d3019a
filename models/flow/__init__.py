"""The randomized assignment flow and its parts: the integrator (``assignment_flow.py``), the Ω distributions
(``omega_dense.py``, ``omega_conv.py``), the start S0 (``start.py``), the entropy estimate (``entropy.py``), the
semi-implicit bound (``kl_bound.py``), the settings (``settings.py``), the named recipes (``recipes.py``), and the
LightningModule that composes them (``randomized_flow.py``)."""
