"""Models: LightningModules (mean field, randomized flow, VAN) and their nn.Module building blocks.

The LightningModules load lazily, so the light parts (``models.recipes``, ``models.flow_settings``) import without
torch or Lightning.
"""

from importlib import import_module

_LAZY = {
    "EnergyModel": "models.energy_model", "MeanField": "models.mean_field", "RandomizedFlow": "models.randomized_flow",
    "FlowSettings": "models.flow_settings", "Recipe": "models.recipes", "RECIPES": "models.recipes",
}
__all__ = list(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'models' has no attribute {name!r}")
