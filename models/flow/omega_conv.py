"""Convolutional multi-channel random interaction for image grids (§5, Fig. 1).

``Ω ∈ R^{nc×nc}`` (the generalised S-flow (3), with label interaction) acts on ``S`` viewed as a
``c``-channel image of size ``H×W`` by a ``c → c`` channel ``k×k`` convolution whose weights are drawn
per sample. All ``m`` samples are applied in one grouped convolution: the batch is folded into
channels, ``(m, c, H, W) → (1, m·c, H, W)``, with ``groups = m``. Label-symmetric draws (``noise="role"``)
need one kernel per sample only, applied depthwise with the labels as the convolution's batch and the
samples as its channels, stored last (``(c, H, W, m)``, channels-last), and ``groups = m``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.flow.assignment_flow import ApplyOmega
from models.flow.fused_step import euler_steps
from models.flow.omega_dense import _inverse_softplus, check_variance


def symmetrize_kernel(weight: Tensor) -> Tensor:
    """Make the zero-padded convolution operator self-adjoint.

    The adjoint of a correlation with kernel ``W[o, i, a, b]`` is the correlation with
    ``W[i, o, k-1-a, k-1-b]``; averaging the two gives a symmetric ``Ω``.

    Args:
        weight: ``(..., c, c, k, k)`` kernels.
    """
    adjoint = weight.transpose(-4, -3).flip(-2, -1)
    return 0.5 * (weight + adjoint)


def _conv(x: Tensor, weight: Tensor, groups: int, periodic: bool) -> Tensor:
    """``F.conv2d`` with ``k // 2`` padding: zeros (open grid) or wrapped around (a torus)."""
    p = weight.shape[-1] // 2
    if periodic:
        return F.conv2d(F.pad(x, (p, p, p, p), mode="circular"), weight, groups=groups)
    return F.conv2d(x, weight, padding=p, groups=groups)


def grouped_conv(S: Tensor, weight: Tensor, grid: tuple[int, int]) -> Tensor:
    """Apply a different convolution to every sample in one call.

    Args:
        S: ``(m, n, c)`` with ``n = H·W`` nodes in row-major order.
        weight: ``(m, c, c, k, k)`` one kernel per sample (odd ``k``, zero padding).
        grid: ``(H, W)``.

    Returns:
        ``(m, n, c)`` the convolved assignments ``ΩS``.
    """
    return grouped_conv_channels_first(S.transpose(1, 2), weight, grid).transpose(1, 2)


def grouped_conv_channels_first(S: Tensor, weight: Tensor, grid: tuple[int, int], periodic: bool = False) -> Tensor:
    """:func:`grouped_conv` on ``S (m, c, n)`` → ``(m, c, n)``: the layout the flow integrates in for
    convolutional Ω, where folding the batch into channels is a view, not a copy. ``periodic``: on a torus."""
    m, c, n = S.shape
    H, W = grid
    k = weight.shape[-1]
    return _conv(S.reshape(1, m * c, H, W), weight.reshape(m * c, c, k, k), m, periodic).view(m, c, n)


def depthwise_conv_samples_last(S: Tensor, kernel: Tensor, grid: tuple[int, int], periodic: bool = False) -> Tensor:
    """``S (c, n, m)`` → ``(c, n, m)``: every label channel of sample ``i`` convolved with ``kernel[i] (k, k)``.

    The labels are the convolution's batch and the samples its channels, stored last: ``(c, H, W, m)`` is the
    channels-last ``(c, m, H, W)`` that oneDNN's depthwise kernel reads and writes without reordering, and one
    kernel per channel serves every label (README, "Changes": 15–25 % faster flows than ``(1, m·c, H, W)``)."""
    c, n, m = S.shape
    H, W = grid
    out = _conv(S.view(c, H, W, m).permute(0, 3, 1, 2), kernel[:, None], m, periodic)
    return out.permute(0, 2, 3, 1).reshape(c, n, m)  # a view when the result is channels-last (it is on CPU)


class DepthwiseOmega:
    """``m`` drawn label-symmetric operators as one depthwise kernel per sample: ``S (c, n, m) ↦ ΩS`` when called, and
    :meth:`fused_steps`, the flow's Euler steps with them in one compiled pass each (:mod:`models.flow.fused_step`)."""

    def __init__(self, kernel: Tensor, grid: tuple[int, int], periodic: bool) -> None:
        self.kernel, self.grid, self.periodic = kernel, grid, periodic

    def __call__(self, S: Tensor) -> Tensor:
        return depthwise_conv_samples_last(S, self.kernel, self.grid, self.periodic)

    def fused_steps(self, z: Tensor, step_size: float, steps: int) -> Tensor | None:
        """``steps`` steps ``z ← z + h·Ω softmax(z)`` of logits ``z (c, n, m)`` compiled; ``None`` where that cannot run."""
        return euler_steps(z, self.kernel, self.grid, step_size, steps, self.periodic)


class ConvOmega(nn.Module):
    """Distribution over convolutional ``Ω``: kernel weights ``~ N(mean, std²)`` per sample.

    It checks only what it needs to be well-formed on its own; the flow's settings are checked together by
    :class:`models.flow.settings.FlowSettings` before it is built.

    Args:
        c: number of labels (channels).
        grid: ``(H, W)`` of the image graph.
        kernel_size: odd ``k``.
        mean: initial mean of every weight (paper's dense value: 1/20).
        variance: initial variance of every weight (paper: 0.1).
        symmetric: symmetrize each drawn kernel so ``Ω`` is self-adjoint.
        nonnegative: clamp drawn weights at 0 (as ``max(·, 0)`` of Theorem 1).
        eps: added to the centre tap of the identity channel map (``εI``).
        tie_labels: one learned kernel for every label's own channel and one for every pair of distinct
            labels (``2·k²`` means and stds instead of ``c²·k²``). The law of ``Ω`` is then invariant
            under permutations of the labels, so a label swap that leaves the energy unchanged (cat ↔ lion
            on the bundled image) leaves the model's distribution unchanged too: symmetric modes get
            exactly equal weight, whatever training does (not in the paper; README, "Fig. 1").
        noise: ``"entry"`` or ``"role"`` (see :meth:`draw` and :meth:`forward`); ``"role"`` needs ``tie_labels``.
        periodic: the grid is a torus (``GridPottsEnergy(periodic=True)``): the convolution wraps around
            instead of padding with zeros, so every node has the same neighbourhood.
    """

    def __init__(
        self,
        c: int,
        grid: tuple[int, int],
        *,
        kernel_size: int = 3,
        mean: float = 1 / 20,
        variance: float = 0.1,
        symmetric: bool = True,
        nonnegative: bool = True,
        eps: float = 1e-3,
        tie_labels: bool = False,
        noise: str = "entry",
        periodic: bool = False,
    ) -> None:
        super().__init__()
        if noise not in ("entry", "role"):
            raise ValueError(f"noise must be 'entry' or 'role', got {noise!r}")
        if noise == "role" and not tie_labels:
            raise ValueError("noise='role' needs tie_labels (the roles are the tied kernels)")
        self.noise = noise
        if kernel_size < 1 or kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd and positive, got {kernel_size}")
        check_variance(variance)
        self.c, self.grid, self.kernel_size = int(c), (int(grid[0]), int(grid[1])), int(kernel_size)
        self.symmetric, self.nonnegative, self.eps = bool(symmetric), bool(nonnegative), float(eps)
        self.tie_labels = bool(tie_labels)
        self.periodic = bool(periodic)  # the grid is a torus: the convolution wraps around
        shape = (c, c, kernel_size, kernel_size)
        learned = (2, kernel_size, kernel_size) if self.tie_labels else shape  # tied: [same label, other label]
        self.mean = nn.Parameter(torch.full(learned, float(mean)))
        self.rho = nn.Parameter(torch.full(learned, _inverse_softplus(math.sqrt(variance))))
        centre = torch.zeros(shape)
        centre[torch.arange(c), torch.arange(c), kernel_size // 2, kernel_size // 2] = 1.0
        self.register_buffer("centre", centre, persistent=False)
        # tied: index 0 on the channel diagonal (a label's own channel), 1 off it
        self.register_buffer("role", 1 - torch.eye(c, dtype=torch.long), persistent=False)

    @property
    def layout(self) -> str:
        """The layout its draws apply to (:data:`models.flow.assignment_flow.LAYOUTS`): ``S (c, n, m)`` for the depthwise
        path of ``noise="role"``, ``(m, c, n)`` for the grouped ``c → c`` convolution."""
        return "cnm" if self.noise == "role" else "mcn"

    def _per_channel(self, p: Tensor) -> Tensor:
        """``(c, c, k, k)`` from a learned tensor (itself, or its two tied kernels spread by role)."""
        return p[self.role] if self.tie_labels else p

    def _per_channel_batch(self, p: Tensor) -> Tensor:
        """``(m, c, c, k, k)`` from ``(m, 2, k, k)`` tied draws."""
        return p[:, self.role]

    @property
    def std(self) -> Tensor:
        # softplus of the learned entries, then spread: tied entries are copies of one number (a vectorised
        # softplus over the spread tensor may round equal inputs differently in its body and its tail)
        return self._per_channel(F.softplus(self.rho))

    def draw_roles(self, m: int, generator: torch.Generator | None = None) -> Tensor:
        """``noise="role"``: ``m`` label-symmetric draws ``(m, 2, k, k)`` of the [same label, other label]
        kernels, symmetrized and clamped like :meth:`draw` (``εI`` not added)."""
        if self.noise != "role":
            raise ValueError("draw_roles needs noise='role'")
        noise = torch.randn((m, *self.mean.shape), generator=generator, device=self.mean.device, dtype=self.mean.dtype)
        weight = self.mean + F.softplus(self.rho) * noise
        if self.symmetric:  # the role matrix is symmetric, so the adjoint of a role kernel is its flip
            weight = 0.5 * (weight + weight.flip(-2, -1))
        return torch.relu(weight) if self.nonnegative else weight

    def draw(self, m: int, generator: torch.Generator | None = None) -> Tensor:
        """``m`` kernels ``(m, c, c, k, k)`` (reparameterized)."""
        if self.noise == "role":  # one draw per tied kernel, spread by role: every draw is label-symmetric
            return self._per_channel_batch(self.draw_roles(m, generator)) + self.eps * self.centre
        mean = self._per_channel(self.mean)
        # i.i.d. per entry, also when the parameters are tied: a draw can favour one label everywhere
        noise = torch.randn((m, *mean.shape), generator=generator, device=mean.device, dtype=mean.dtype)
        weight = mean + self.std * noise
        if self.symmetric:
            weight = symmetrize_kernel(weight)
        if self.nonnegative:
            weight = torch.relu(weight)
        return weight + self.eps * self.centre

    def forward(self, m: int, generator: torch.Generator | None = None, grid: tuple[int, int] | None = None) -> ApplyOmega:
        """Draw ``m`` kernels; return ``S ↦ ΩS`` in :attr:`layout` (one convolution per call) on ``grid`` (default: the
        module's; the kernels are stationary, so the same law applies to a crop or another image).

        With ``noise="role"`` each draw is label-symmetric, and as the rows of ``S`` sum to one,
        ``(ΩS)_a = (K_same − K_other) * S_a + K_other * 1``: the second term is the same for every label and
        cancels in the flow's softmax, so ΩS is applied as one depthwise convolution with the difference
        kernel (``c``× fewer multiply-adds than the ``c → c`` convolution; equal up to that label constant).
        """
        if self.noise == "role":
            roles = self.draw_roles(m, generator)
            difference = roles[:, 0] - roles[:, 1]
            difference[:, self.kernel_size // 2, self.kernel_size // 2] += self.eps
            return DepthwiseOmega(difference, grid or self.grid, self.periodic)
        weight = self.draw(m, generator)
        return lambda S: grouped_conv_channels_first(S, weight, grid or self.grid, self.periodic)

    def extra_repr(self) -> str:
        return (
            f"c={self.c}, grid={self.grid}, kernel_size={self.kernel_size}, "
            f"symmetric={self.symmetric}, nonnegative={self.nonnegative}, tie_labels={self.tie_labels}, noise={self.noise!r}, "
            f"periodic={self.periodic}"
        )
