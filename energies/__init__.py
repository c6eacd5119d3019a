"""Pluggable energies: each file holds one energy; all follow :class:`energies.base.Energy`."""

from energies.base import Energy
from energies.grid_potts import GridPottsEnergy
from energies.ising import TABLE1_COUPLING, ising_energy, table1_energy
from energies.pairwise import PairwiseEnergy

__all__ = ["Energy", "GridPottsEnergy", "PairwiseEnergy", "TABLE1_COUPLING", "ising_energy", "table1_energy"]
