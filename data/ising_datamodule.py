"""The synthetic Ising source: the Table 1 family of grids (``--ising HxW``)."""

from __future__ import annotations

from data.energy_datamodule import EnergyDataModule
from energies.ising import TABLE1_COUPLING, TABLE1_FIELD, ising_energy


class IsingDataModule(EnergyDataModule):
    """Serves :func:`energies.ising.ising_energy` of the given size (3×8 is Table 1)."""

    def __init__(
        self,
        height: int = 3,
        width: int = 8,
        coupling: float = TABLE1_COUPLING,
        field: float = TABLE1_FIELD,
        steps_per_epoch: int = 100,
    ) -> None:
        super().__init__(steps_per_epoch)
        self.save_hyperparameters()
        self.height, self.width, self.coupling, self.field = height, width, coupling, field

    def build_energy(self):
        return ising_energy(self.height, self.width, self.coupling, self.field)
