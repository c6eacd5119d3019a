"""Data sources: each DataModule builds the Energy a model trains on.

The DataModules load lazily, so ``data.defaults`` imports without torch or Lightning (``train.py --help``).
"""

from importlib import import_module

_LAZY = {
    "EnergyDataModule": "data.energy_datamodule", "StepIndices": "data.energy_datamodule", "IsingDataModule": "data.ising_datamodule",
    "Labels": "data.data_term", "gaussian_unary": "data.data_term", "kmeans_labels": "data.data_term",
    "parse_labels": "data.data_term", "ImageDataModule": "data.image_datamodule", "load_image": "data.image_io",
    "DEFAULT_IMAGE": "data.defaults", "DEFAULT_LABELS": "data.defaults", "load_unary": "data.unary_array",
    "contrast_weights": "data.contrast",
}
__all__ = list(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'data' has no attribute {name!r}")
