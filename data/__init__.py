"""Data sources: each DataModule builds the Energy a model trains on."""

from data.energy_datamodule import EnergyDataModule, StepIndices
from data.ising_datamodule import IsingDataModule
from data.data_term import DEFAULT_LABELS, Labels, gaussian_unary, kmeans_labels, parse_labels
from data.image_datamodule import DEFAULT_IMAGE, ImageDataModule
from data.image_io import load_image

__all__ = [
    "DEFAULT_IMAGE", "DEFAULT_LABELS", "EnergyDataModule", "ImageDataModule", "IsingDataModule", "Labels", "StepIndices",
    "gaussian_unary", "kmeans_labels", "load_image", "parse_labels",
]
