"""Data sources: each DataModule builds the Energy a model trains on."""

from data.energy_datamodule import EnergyDataModule, StepIndices
from data.ising_datamodule import IsingDataModule

__all__ = ["EnergyDataModule", "IsingDataModule", "StepIndices"]
