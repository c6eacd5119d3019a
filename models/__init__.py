"""Samplers, in layers that import only downwards (docs/architecture.md, ``tests/test_layout.py``):

* the model contract: ``energy_model.py`` (what every sampler offers) and ``last_draw.py`` (a sample with the law of
  its last step);
* ``kernels/``: the P*-invariant Markov kernels, one file and one registered name each (``sw``, ``line``, ``hb``);
* ``finish/``: a schedule of kernels, rounds of it until the convergence check passes, and the check;
* ``baselines/``: mean field, the VAN, chains of kernels from random labelings, the Ising reference sampler;
* ``flow/``: the randomized assignment flow, its parts, its settings and the named recipes.

The LightningModules load lazily, so the light parts (``models.flow.recipes``, ``models.flow.settings``,
``models.kernels``) import without torch or Lightning.
"""

from importlib import import_module

_LAZY = {
    "EnergyModel": "models.energy_model", "MeanField": "models.baselines.mean_field", "RandomizedFlow": "models.flow.randomized_flow",
    "FlowSettings": "models.flow.settings", "Recipe": "models.flow.recipes", "RECIPES": "models.flow.recipes",
    "VAN": "models.baselines.van", "RandomStartChains": "models.baselines.chains", "Finish": "models.finish.schedule",
    "KERNELS": "models.kernels",
}
__all__ = list(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'models' has no attribute {name!r}")
