"""Models: LightningModules (mean field, randomized flow) and their nn.Module building blocks."""

from models.energy_model import EnergyModel
from models.mean_field import MeanField

__all__ = ["EnergyModel", "MeanField"]
from models.randomized_flow import RandomizedFlow  # noqa: E402
__all__ += ["RandomizedFlow"]
