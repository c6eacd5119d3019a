"""Variational autoregressive network (VAN; Wu, Wang & Zhang, PRL 122, 080602 (2019)): the baseline that
gives exact ``log q(x)`` and exact samples.

A PixelCNN over the grid in raster order: ``q(x) = Π_i q(x_i | x_{<i})``. The conditionals come from
masked convolutions: a first layer of mask type A (the kernel sees the pixels before the current one in
raster order, not the pixel itself), residual blocks ``h ← h + conv_B(act(h))`` of type B (the current
pixel's own features too), and a final 1×1 convolution to ``c`` logits per pixel. The output at pixel ``i``
depends on the inputs at pixels ``< i`` only, so ``log q(x) = Σ_i log softmax(logits_i)[x_i]`` is exactly
normalised and one parallel pass evaluates it.

Sampling is ancestral, pixel by pixel. The features of every layer at pixel ``i`` depend only on inputs
``< i``, so once computed at step ``i`` they are final: each step computes all layers *at pixel ``i``
only* from the cached feature maps of the earlier pixels (a ``k×k`` patch per layer). A whole sample
costs what one parallel pass costs, in ``n`` small steps, instead of ``n`` full passes.

Training minimises the reverse KL ``E_q[E(x) + log q(x)] + log Z*`` with the score-function gradient
and the batch mean as baseline: loss ``= mean[(β_t E(x) + log q(x) − b) log q(x)]``, ``b`` the detached
batch mean of ``β_t E + log q``; the energy weight ``β_t`` ramps linearly from ``beta_floor`` to 1 over
the first ``anneal_fraction`` of training (VAN's β-annealing).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from energies.base import Energy
from models.energy_model import EnergyModel, check_lr


def raster_mask(k: int, mask_type: str) -> Tensor:
    """``(k, k)`` mask of the kernel offsets before the centre in raster order (``"B"``: the centre too)."""
    if mask_type not in ("A", "B"):
        raise ValueError(f"mask_type must be 'A' or 'B', got {mask_type!r}")
    h = k // 2
    mask = torch.zeros(k, k)
    mask[:h] = 1
    mask[h, : h + (mask_type == "B")] = 1
    return mask


class MaskedConv2d(nn.Module):
    """A ``k×k`` convolution (``k`` odd, zero padding) restricted to the raster-causal offsets.

    (Computing it as two unmasked convolutions over exactly the causal region halves the multiply-adds
    but measured 35 % slower on CPU than the masked ``k×k`` kernel: oneDNN prefers one square kernel.)
    """

    def __init__(self, cin: int, cout: int, k: int, mask_type: str) -> None:
        super().__init__()
        if k < 1 or k % 2 == 0:
            raise ValueError(f"kernel_size must be odd and ≥ 1, got {k}")
        self.cin, self.cout, self.k, self.mask_type = cin, cout, k, mask_type
        self.register_buffer("mask", raster_mask(k, mask_type), persistent=False)
        fan_in = max(1, int(self.mask.sum()) * cin)
        bound = 1 / math.sqrt(fan_in)
        self.weight = nn.Parameter(torch.empty(cout, cin, k, k).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(cout).uniform_(-bound, bound))

    def masked_weight(self) -> Tensor:
        return self.weight * self.mask

    def forward(self, x: Tensor) -> Tensor:
        """``(B, cin, H, W) → (B, cout, H, W)``."""
        return F.conv2d(x, self.masked_weight(), self.bias, padding=self.k // 2)


class PixelCNN(nn.Module):
    """``c`` one-hot channels ``→`` ``c`` logits per pixel; the logits at pixel ``i`` see inputs ``< i`` only.

    Args:
        c: labels.  channels: feature channels.  blocks: residual blocks of type B.  kernel_size: odd.
    """

    def __init__(self, c: int, channels: int = 32, blocks: int = 3, kernel_size: int = 3) -> None:
        super().__init__()
        self.c, self.k = c, kernel_size
        self.first = MaskedConv2d(c, channels, kernel_size, "A")
        self.acts = nn.ModuleList(nn.PReLU(channels, init=0.5) for _ in range(blocks + 1))
        self.convs = nn.ModuleList(MaskedConv2d(channels, channels, kernel_size, "B") for _ in range(blocks))
        self.last = nn.Conv2d(channels, c, 1)

    def forward(self, onehot: Tensor) -> Tensor:
        """``(B, c, H, W)`` one-hot labelings ``→`` ``(B, c, H, W)`` log-probabilities of each pixel's label."""
        h = self.first(onehot)
        for act, conv in zip(self.acts, self.convs):
            h = h + conv(act(h))
        return torch.log_softmax(self.last(self.acts[-1](h)), 1)

    @torch.no_grad()
    def sample(self, m: int, grid: tuple[int, int], generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """Ancestral sampling with cached feature maps: ``(m, H, W)`` labels and their ``log q`` ``(m,)``."""
        H, W = grid
        k, p = self.k, self.k // 2
        ref = self.last.weight
        # channels-last maps (m, H + 2p, W + 2p, channels), zero-padded like the parallel pass: a pixel's
        # k×k patch is k runs of k·channels contiguous values
        inputs = torch.zeros(m, H + 2 * p, W + 2 * p, self.c, device=ref.device, dtype=ref.dtype)
        caches = [torch.zeros(m, H + 2 * p, W + 2 * p, conv.cin, device=ref.device, dtype=ref.dtype) for conv in self.convs]

        def flat(conv: MaskedConv2d) -> Tensor:  # (k·k·cin, cout), rows in the patches' order
            return conv.masked_weight().permute(2, 3, 1, 0).reshape(-1, conv.cout).contiguous()

        w_first, w_convs = flat(self.first), [flat(conv) for conv in self.convs]
        w_last = self.last.weight.view(self.c, -1).T.contiguous()
        labels = torch.empty(m, H, W, dtype=torch.long, device=ref.device)
        log_q = torch.zeros(m, device=ref.device, dtype=ref.dtype)
        rows = torch.arange(m, device=ref.device)
        for r in range(H):
            for col in range(W):
                patch = inputs[:, r : r + k, col : col + k].reshape(m, -1)
                h = torch.addmm(self.first.bias, patch, w_first)
                for act, conv, cache, w in zip(self.acts, self.convs, caches, w_convs):
                    cache[:, r + p, col + p] = act(h)
                    h = h + torch.addmm(conv.bias, cache[:, r : r + k, col : col + k].reshape(m, -1), w)
                logp = torch.log_softmax(torch.addmm(self.last.bias, self.acts[-1](h), w_last), 1)
                x = torch.multinomial(logp.exp(), 1, generator=generator).squeeze(1)
                labels[:, r, col] = x
                log_q += logp[rows, x]
                inputs[rows, r + p, col + p, x] = 1
        return labels, log_q


class VAN(EnergyModel):
    """The variational autoregressive network as a LightningModule with the models' contract.

    Args:
        n: nodes (``H·W``).  c: labels.
        grid: ``(H, W)`` of the pixel grid (required: the network is convolutional over it).
        channels: feature channels of the masked convolutions.
        blocks: residual blocks of type-B masked convolutions after the type-A layer.
        kernel_size: odd size ``k`` of the masked kernels (VAN's half-kernel ``k // 2``).
        batch_size: samples per optimisation step.
        lr: Adam step length.
        anneal_fraction: the energy weight ``β_t`` ramps to 1 over this fraction of the training steps
            (the trainer's ``max_steps`` when set, else ``schedule_steps``); 0: ``β_t = 1`` throughout.
        beta_floor: ``β_t`` at step 0 (the ramp is ``max(beta_floor, step / ramp_steps)``).
        schedule_steps: length of training assumed when the trainer has no ``max_steps``.
        seed: seeds the initial weights.
    """

    def __init__(
        self,
        n: int,
        c: int,
        grid: tuple[int, int] | None = None,
        channels: int = 32,
        blocks: int = 3,
        kernel_size: int = 3,
        batch_size: int = 256,
        lr: float = 1e-3,
        anneal_fraction: float = 0.5,
        beta_floor: float = 0.05,
        schedule_steps: int = 2000,
        seed: int = 0,
    ) -> None:
        super().__init__(n, c)
        if grid is None:
            raise ValueError("the VAN is a PixelCNN over a pixel grid: it needs grid=(H, W) (non-grid energies are not supported)")
        grid = (int(grid[0]), int(grid[1]))
        if grid[0] * grid[1] != n:
            raise ValueError(f"grid {grid} does not hold n={n} nodes")
        for name, value in (("channels", channels), ("schedule_steps", schedule_steps)):
            if value < 1:
                raise ValueError(f"{name} must be ≥ 1, got {value}")
        if batch_size < 2:  # with one sample the baseline (the batch mean) cancels the whole REINFORCE signal
            raise ValueError(f"batch_size must be ≥ 2, got {batch_size}")
        if blocks < 0:
            raise ValueError(f"blocks must be ≥ 0, got {blocks}")
        if kernel_size < 3 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd and ≥ 3, got {kernel_size}")
        check_lr(lr)
        if not 0 <= anneal_fraction <= 1 or not 0 < beta_floor <= 1:
            raise ValueError(f"need 0 ≤ anneal_fraction ≤ 1 and 0 < beta_floor ≤ 1, got {anneal_fraction} and {beta_floor}")
        self.grid = grid
        self.save_hyperparameters()
        state = torch.random.get_rng_state()
        torch.manual_seed(seed)  # the initial weights depend on ``seed`` only
        try:
            self.net = PixelCNN(c, channels, blocks, kernel_size)
        finally:
            torch.random.set_rng_state(state)

    def attach_energy(self, energy: Energy) -> "VAN":
        if energy.grid is not None and tuple(energy.grid) != self.grid:
            raise ValueError(f"the energy's grid {tuple(energy.grid)} differs from the model's {self.grid}")
        return super().attach_energy(energy)

    # -- the model ---------------------------------------------------------------------------------
    def log_prob(self, x: Tensor, chunk: int = 4096) -> Tensor:
        """Exact ``log q(x)`` of integer labelings ``(m, n) → (m,)``, differentiable, in chunks of ``chunk``."""
        if x.dim() != 2 or x.shape[1] != self.n:
            raise ValueError(f"labelings must have shape (m, {self.n}), got {tuple(x.shape)}")
        x = x.long().to(self.device)
        H, W = self.grid
        out = []
        for i in range(0, len(x), chunk):
            xi = x[i : i + chunk].view(-1, H, W)
            onehot = F.one_hot(xi, self.c).permute(0, 3, 1, 2).to(self.net.last.weight.dtype)
            logp = self.net(onehot)  # (B, c, H, W)
            out.append(logp.gather(1, xi[:, None]).squeeze(1).sum((1, 2)))
        return torch.cat(out) if out else x.new_zeros(0, dtype=self.net.last.weight.dtype)

    def sample_with_log_prob(self, m: int, generator: torch.Generator | None = None, chunk: int = 4096) -> tuple[Tensor, Tensor]:
        """``m`` exact samples ``(m, n)`` and their ``log q`` ``(m,)`` (no gradient)."""
        samples, log_q = [], []
        for i in range(0, m, chunk):
            x, lq = self.net.sample(min(chunk, m - i), self.grid, generator)
            samples.append(x.view(x.shape[0], -1))
            log_q.append(lq)
        return torch.cat(samples), torch.cat(log_q)

    def sample(self, m: int, generator: torch.Generator | None = None) -> Tensor:
        """``m`` exact ancestral samples ``(m, n)`` (long)."""
        return self.sample_with_log_prob(m, generator)[0]

    def marginals(self, m: int | None = 4096, generator: torch.Generator | None = None) -> Tensor:
        """``(n, c)`` marginals estimated from ``m`` samples (default 4096)."""
        x = self.sample(m or 4096, generator)
        return F.one_hot(x, self.c).to(self.net.last.weight.dtype).mean(0)

    # -- training ----------------------------------------------------------------------------------
    def energy_weight(self) -> float:
        """``β_t = max(beta_floor, min(1, t / (anneal_fraction · total)))`` in training, else 1."""
        fraction = self.hparams.anneal_fraction
        if fraction <= 0 or self._trainer is None or not self.training:
            return 1.0
        ramp = self.trainer.global_step / max(1.0, fraction * self.total_steps())
        return max(self.hparams.beta_floor, min(1.0, ramp))

    def total_steps(self) -> int:
        max_steps = getattr(self._trainer, "max_steps", -1) if self._trainer is not None else -1
        return max_steps if max_steps and max_steps > 0 else self.hparams.schedule_steps

    def free_energy_terms(self, m: int | None = None) -> dict[str, Tensor]:
        """One batch: the score-function surrogate ``loss`` and the detached figures at ``β = 1``."""
        m = m or self.hparams.batch_size
        with torch.no_grad():
            x, _ = self.net.sample(m, self.grid)
            x = x.view(m, -1)
            energy = self.energy.energy(x).to(self.net.last.weight.dtype)
        log_q = self.log_prob(x)
        beta = self.energy_weight()
        with torch.no_grad():
            reward = beta * energy + log_q
            advantage = reward - reward.mean()
        # ∇ E_q[βE + log q] = E_q[(βE + log q − b) ∇ log q] (E_q[∇ log q] = 0 absorbs b and the +1)
        loss = (advantage * log_q).mean()
        return {
            "loss": loss,
            "free_energy": (energy + log_q).mean().detach(),
            "energy": energy.mean(),
            "entropy": -log_q.mean().detach(),
        }

    def training_step(self, batch, batch_idx) -> Tensor:
        terms = self.free_energy_terms()
        self.log("train/free_energy", terms["free_energy"], prog_bar=True)
        self.log("train/energy", terms["energy"])
        self.log("train/entropy", terms["entropy"])
        self.log("train/beta", self.energy_weight())
        return terms["loss"]

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)
