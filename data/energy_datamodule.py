"""Base DataModule: serves an Energy to the model. A training "batch" is just the step index;
all randomness of a step is the model's own."""

from __future__ import annotations

import lightning as L
from torch.utils.data import DataLoader, Dataset

from energies.base import Energy


class StepIndices(Dataset):
    """``length`` integers; one per optimisation step."""

    def __init__(self, length: int) -> None:
        self.length = int(length)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> int:
        return index


class EnergyDataModule(L.LightningDataModule):
    """Holds the energy a model trains on; subclasses build it in :meth:`build_energy`.

    Args:
        steps_per_epoch: length of one "epoch" of step indices (only paces epoch-level hooks).
    """

    def __init__(self, steps_per_epoch: int = 100) -> None:
        super().__init__()
        if steps_per_epoch < 1:
            raise ValueError(f"steps_per_epoch must be ≥ 1, got {steps_per_epoch}")
        self.steps_per_epoch = steps_per_epoch
        self._energy: Energy | None = None

    def build_energy(self) -> Energy:
        raise NotImplementedError

    @property
    def energy(self) -> Energy:
        if self._energy is None:
            self._energy = self.build_energy()
        return self._energy

    def train_dataloader(self) -> DataLoader:
        return DataLoader(StepIndices(self.steps_per_epoch), batch_size=None, shuffle=False)


class GivenEnergy(EnergyDataModule):
    """Serves an energy built elsewhere (a benchmark's instance, not a named data source)."""

    def __init__(self, energy: Energy, steps_per_epoch: int = 100) -> None:
        super().__init__(steps_per_epoch)
        self._energy = energy
