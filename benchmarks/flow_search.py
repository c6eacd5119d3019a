"""Train one RandomizedFlow config on Table 1 and evaluate with integer samples. Usage:
python benchmarks/flow_search.py '{"steps":4000, ...model kwargs}' [eval_samples] [seed]"""
import json, logging, sys, time, warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import torch
torch.set_num_threads(1)
warnings.filterwarnings("ignore")
logging.getLogger("lightning").setLevel(logging.ERROR)
logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
import lightning as L
from data.ising_datamodule import IsingDataModule
from energies.exact import exact_inference
from energies.sample_stats import sample_figures
from models import RandomizedFlow

cfg = json.loads(sys.argv[1])
evals = int(sys.argv[2]) if len(sys.argv) > 2 else 200_000
seed = int(sys.argv[3]) if len(sys.argv) > 3 else 0
steps = cfg.pop("steps", 4000)
seed = cfg.pop("seed", seed)
L.seed_everything(seed, verbose=False)
dm = IsingDataModule()
model = RandomizedFlow(24, 2, grid=(3, 8), seed=seed, **cfg)
trainer = L.Trainer(max_steps=steps, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                    enable_model_summary=False, accelerator="cpu", log_every_n_steps=50)
t0 = time.time()
trainer.fit(model, datamodule=dm)
train_s = time.time() - t0
energy = dm.energy
ex = exact_inference(energy)
model.attach_energy(energy)
gen = torch.Generator().manual_seed(1234 + seed)
t1 = time.time()
samples = model.sample(evals, generator=gen)
fig = sample_figures(samples, energy, ex)
with torch.no_grad():
    S = model.soft_samples(4096, gen)
integ = float(S.max(-1).values.mean())
m = dict(trainer.callback_metrics)
print(json.dumps({"cfg": cfg, "steps": steps, "seed": seed, "kl": round(fig["kl"], 4), "marg": round(fig["marginal_diff"], 4),
                  "E": round(fig["energy"], 3), "H": round(fig["entropy"], 3), "support": fig["support"],
                  "integrality": round(integ, 3), "train_s": round(train_s, 1), "eval_s": round(time.time() - t1, 1),
                  "train_F": round(float(m.get("train/free_energy", float("nan"))), 3), "evals": evals}))
