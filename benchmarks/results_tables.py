"""docs/results.md and the README's results table, generated from ``benchmarks/results/*.json``.

    python benchmarks/results_tables.py            # rewrite docs/results.md (and README.md's results block)
    python benchmarks/results_tables.py --check    # exit 1 when either differs from what would be written

One section per benchmark JSON: a table of its main figures (targets beside what was measured), the command
that reproduces it, the machine and the date, all read from the JSON and its ``provenance`` block
(``benchmarks/output.py``). Nothing is copied by hand, so no figure can drift from its JSON.

**Stale figures.** :data:`DEPENDS` lists, per JSON, the code it measures. A JSON is *stale* when a commit touching
one of those paths is not an ancestor of the commit the JSON records (``git log -1 --format=%H -- <path>``, then
``git merge-base --is-ancestor <that commit> <the JSON's commit>``): the code changed after it was measured. A
commit that is not in the history is stale too ("provenance unknown"); without git history (no git, or a shallow
clone that lacks the commit) the state is "unknown". Every row of a stale table carries the mark, so a stale figure
never looks current. Any later commit to measured code can turn a section stale: regenerate then (the fast test
``tests/test_results_tables.py`` fails until you do), and rerun the benchmark to make it current again.

**Uneven budgets** (a method trained outside the clock, given fewer steps, another kernel, or no training) are
stated in the tables themselves, in a ``budget`` column.

README.md gets one compact table between ``<!-- results:begin -->`` and ``<!-- results:end -->``; a README
without those markers is left alone.
"""

from __future__ import annotations

import argparse
import ast
import json
import math
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from a clone without installing
    sys.path.insert(0, str(ROOT))

from models.kernels import KERNELS  # noqa: E402  (the registry imports nothing heavy)

DOCS = Path("docs/results.md")
README = Path("README.md")
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
REGENERATE = "python benchmarks/results_tables.py"

# what each benchmark JSON measures: its script, the benchmark modules it imports, and the project folders whose
# code computes its figures (train.py, run/ and callbacks/ where it trains through train.py; data/ where it reads
# photos or builds data terms; metrics/ and pictures/ where its figures are computed there). Section order = this order.
CORE = ["models/", "energies/"]
TRAIN_PY = ["train.py", "run/", "callbacks/", "data/", "metrics/", "pictures/", *CORE]  # `python train.py` as a user runs it
DEPENDS = {
    "table1.json": ["benchmarks/table1.py", "data/", *CORE],
    "fig1.json": ["benchmarks/fig1.py", *TRAIN_PY],
    "exact_suite_check.json": ["benchmarks/exact_suite.py", "benchmarks/exact_suite_images.py", "benchmarks/exact_images.py",
                               "callbacks/evaluation.py", "data/", *CORE],
    "exact_suite.json": ["benchmarks/exact_suite.py", "benchmarks/exact_suite_images.py", "benchmarks/exact_images.py",
                         "callbacks/evaluation.py", "data/", *CORE],
    "photo_suite.json": ["benchmarks/photo_suite.py", "benchmarks/photos.py", *TRAIN_PY],
    "photo_suite_128.json": ["benchmarks/photo_suite.py", "benchmarks/photos.py", *TRAIN_PY],  # the same at 128 px
    "exact_images.json": ["benchmarks/exact_images.py", "data/", *CORE],
    "stationary.json": ["benchmarks/stationary.py", "benchmarks/exact_images.py", "data/", *CORE],
    "time_to_accuracy.json": ["benchmarks/time_to_accuracy.py", "benchmarks/exact_images.py", "benchmarks/photos.py",
                              "run/", "data/", *CORE],
    "photos.json": ["benchmarks/photos.py", *TRAIN_PY],
    "independence.json": ["benchmarks/independence.py", *TRAIN_PY],
    "full_size.json": ["benchmarks/full_size.py", *TRAIN_PY],
    "sharing.json": ["benchmarks/sharing.py", *TRAIN_PY],
    "sharing_policies.json": ["benchmarks/sharing.py", *TRAIN_PY],
    "perf.json": ["benchmarks/perf.py", "benchmarks/ess.py", "data/", "metrics/", "pictures/", *CORE],
    "bounds.json": ["benchmarks/bounds.py", "benchmarks/exact_images.py", "benchmarks/photos.py", "callbacks/", "data/",
                    "metrics/", "pictures/", *CORE],
    "ising_large.json": ["benchmarks/ising_large.py", "callbacks/", "data/", "metrics/", "pictures/", *CORE],
}


# -- staleness ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Status:
    state: str  # "current", "stale" or "unknown"
    reason: str

    @property
    def mark(self) -> str:
        return {"current": "✅ current", "stale": "⚠ stale", "unknown": "? unknown"}[self.state]


def _git(root: Path, *args: str) -> subprocess.CompletedProcess | None:
    try:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None


def _last_touch(root: Path, path: str) -> str | None:
    """The last commit (from HEAD) that touched ``path``; ``""`` if none did, ``None`` if git failed."""
    done = _git(root, "log", "-1", "--format=%H", "--", path)
    return None if done is None or done.returncode else done.stdout.strip()


def _is_ancestor(root: Path, older: str, newer: str) -> bool:
    done = _git(root, "merge-base", "--is-ancestor", older, newer)
    return done is not None and done.returncode == 0


def staleness(commit: str | None, paths: list[str], root: Path = ROOT) -> Status:
    """Whether figures measured at ``commit`` (``-dirty`` allowed) are older than the last change to ``paths``."""
    if not commit:
        return Status("stale", "provenance unknown: the JSON records no commit")
    base, dirty = commit.removesuffix("-dirty"), commit.endswith("-dirty")
    inside = _git(root, "rev-parse", "--is-shallow-repository")
    if inside is None or inside.returncode:
        return Status("unknown", "no git history here to tell")
    known = _git(root, "cat-file", "-e", f"{base}^{{commit}}")
    if known is None or known.returncode:
        if inside.stdout.strip() == "true":
            return Status("unknown", f"commit `{base[:7]}` is not in this shallow clone")
        return Status("stale", f"provenance unknown: commit `{base[:7]}` is not in this repository's history")
    changed = []
    for path in paths:
        last = _last_touch(root, path)
        if last is None:
            return Status("unknown", f"`git log` failed on `{path}`")
        if last and not _is_ancestor(root, last, base):
            changed.append(path)
    if changed:
        return Status("stale", "code changed since it was measured: " + ", ".join(f"`{p}`" for p in changed))
    note = " (measured with uncommitted changes on top of it)" if dirty else ""
    return Status("current", f"no change to the code it measures since `{base[:7]}`{note}")


# -- formatting -----------------------------------------------------------------------------------------
def num(x, digits: int = 3) -> str:
    """``x`` with ``digits`` decimals; ``–`` for a missing figure."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:.{digits}f}"


def span(values, digits: int = 3) -> str:
    """``lo–hi`` of the formatted values (one value when they agree)."""
    values = [v for v in values if v is not None]
    if not values:
        return "–"
    lo, hi = num(min(values), digits), num(max(values), digits)
    return lo if lo == hi else f"{lo}–{hi}"


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def yes(flag) -> str:
    return "–" if flag is None else ("✓" if flag else "✗")


def table(header: list[str], rows: list[list], mark: str) -> str:
    """A markdown table whose first column is the staleness ``mark`` of every row."""
    cell = lambda v: str(v).replace("|", "\\|").replace("\n", " ")  # noqa: E731
    lines = ["| " + " | ".join(["status", *header]) + " |", "|" + "---|" * (len(header) + 1)]
    lines += ["| " + " | ".join([mark, *(cell(v) for v in row)]) + " |" for row in rows]
    return "\n".join(lines)


def script_constant(root: Path, script: str, name: str):
    """A literal module-level constant of ``benchmarks/<script>`` (read, not imported: no torch needed)."""
    tree = ast.parse((root / "benchmarks" / script).read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise KeyError(f"benchmarks/{script} has no constant {name}")


@dataclass
class Section:
    title: str
    body: str  # intro, table(s), notes (the provenance lines are added by load_sections)
    headlines: list[tuple[str, str, str]]  # (what, measured, target or paper) for the overview / README table


# -- one function per benchmark ---------------------------------------------------------------------------
def table1(d: dict, mark: str, root: Path) -> Section:
    paper = script_constant(root, "table1.py", "PAPER")
    rows = [["exact (enumeration of 2²⁴ states)", "–", "0", num(d["mean_energy"]), num(d["entropy"]), "0", "–", "–"]]
    for r in d["rows"]:
        p = paper.get(r["model"], {})
        seeds = len(r.get("seeds", [])) or 1
        kl = num(r["kl"]) + (f" ± {num(r['kl_std'])}" if "kl_std" in r else "")
        budget = (f"{plural(seeds, 'seed')}, its own training steps ({num(r['train_seconds'], 1)} s each); "
                  f"{r['samples']:,} samples")
        rows.append([r["model"], budget, f"**{kl}**", num(r["energy"]), num(r["entropy"]), num(r["marginal_diff"]),
                     num(r["train_seconds"], 1),
                     " / ".join(num(p.get(k), digits) for k, digits in (("kl", 3), ("energy", 2), ("entropy", 2),
                                                                        ("marginal_diff", 3)))])
    body = (f"3×8 Ising instance, coupling {d['coupling']}: exact log Z* = {num(d['log_z'], 4)}. KL from integer samples "
            "(plug-in entropy + Miller–Madow) against the exact log Z*.\n\n"
            + table(["model", "budget", "KL", "energy", "entropy", "marginal diff.", "train s",
                     "paper: KL / energy / entropy / marg. diff."], rows, mark))
    flow = next((r for r in d["rows"] if r["model"] == "flow"), None)
    mf = next((r for r in d["rows"] if r["model"] == "meanfield"), None)
    headline = []
    if flow:
        ours = f"{num(flow['kl'])} ± {num(flow.get('kl_std'))} ({len(flow.get('seeds', []))} seeds)"
        if mf:
            ours += f"; mean field {num(mf['kl'])}"
        headline.append(("Table 1 (3×8 Ising): KL of the flow", ours,
                         f"paper: {num(paper['flow']['kl'])} (mean field {num(paper['meanfield']['kl'])})"))
    return Section("Table 1: the 3×8 Ising instance", body, headline)


def fig1(d: dict, mark: str, root: Path) -> Section:
    ref = d["gibbs_reference"]
    rows = [[f"seed {r['seed']}", "`python train.py --seed s` (its defaults)", num(r["subject_coherence"]),
             num(r["cat_share"]), yes(abs(r["cat_share"] - 0.5) <= 0.05), num(r["energy"], 1), num(r["seconds"], 1)]
            for r in d["default"]]
    rows.append([f"P* (reference: {ref['chains']} Gibbs chains × {ref['sweeps']} sweeps)",
                 "half the chains started in each mode (Gibbs cannot switch modes here; the modes are equally likely "
                 "by construction)", num(ref["subject_coherence"]), "0.5 by construction", "–", num(ref["energy"], 1),
                 num(ref["seconds"], 1)])
    default = table(["run", "budget", "subject coherence", "cat share", "within 0.5 ± 0.05", "mean energy", "seconds"],
                    rows, mark)
    small = []
    for variant, runs in d["small_exact"].items():
        small.append([variant, f"{plural(len(runs), 'seed')}, its own training steps",
                      span([r["kl"] for r in runs]),
                      f"{span([r['kl_lower'] for r in runs])} ≤ KL ≤ {span([r['kl_upper'] for r in runs])}",
                      span([r["entropy"] for r in runs]), span([r["support"] for r in runs], 0),
                      yes(all(r["kl"] <= 0.05 for r in runs))])
    H, W = d["small_grid"]
    exact = table(["model", "budget", "exact KL", "logged bounds", "entropy", "support", "KL ≤ 0.05"], small, mark)
    body = ("**The default run on the bundled 24×24 image** (256 samples per seed: the cat share has ±0.03 of noise; "
            "target 0.5 ± 0.05):\n\n" + default
            + f"\n\n**A {H}×{W} version of the image**, where P* is enumerable: exact KL (plug-in, Miller–Madow) of each "
            "model's samples beside the bounds the run logs; target KL ≤ 0.05.\n\n" + exact)
    seeds = d["default"]
    headlines = [("Fig. 1 (bundled image): subject coherence / cat share / training s",
                  f"{span([r['subject_coherence'] for r in seeds])} / {span([r['cat_share'] for r in seeds], 2)} / "
                  f"{span([r['seconds'] for r in seeds], 1)} s ({len(seeds)} seeds)",
                  f"P*: {num(ref['subject_coherence'])} / 0.5 ± 0.05")]
    default_small = next(iter(d["small_exact"].values()), [])
    if default_small:
        headlines.append((f"Fig. 1 on a {H}×{W} version: exact KL of the default", span([r["kl"] for r in default_small]),
                          "≤ 0.05"))
    return Section("Fig. 1: the bundled cat/lion image", body, headlines)


EXACT_SUITE_ROWS = {  # row → (start, finish, budget)
    "exact": ("exact samples (transfer matrix)", "–", "none: measures the check's false alarms"),
    "flow": ("flow", "none", "training (median {train} s per instance) outside the seconds"),
    "flow+1": ("flow", "one round: 1 SW + 1 line + 1 HB", "training outside the seconds"),
    "flow+auto": ("flow", "automatic: rounds until the check passes (capped)", "training outside the seconds"),
    "meanfield+auto": ("mean field", "automatic", "mean field's training neither timed nor counted"),
    "random+auto": ("uniform random labelings", "automatic", "no training"),
    "random+same": ("uniform random labelings", "as many sweeps as flow+auto used on that instance", "no training"),
}


def exact_suite(d: dict, mark: str, root: Path) -> Section:
    s, instances = d["summary"], d["instances"]
    k = s["instances"]
    trained = [i["train_seconds"] for i in instances if i.get("train_seconds") is not None]
    train = statistics.median(trained) if trained else None
    rows = []
    for name in (instances[0]["rows"] if instances else []):
        start, finish, budget = EXACT_SUITE_ROWS.get(name, (name, "", ""))
        sweeps = [i["rows"][name]["sweeps"] for i in instances]
        per_sample = [sum(i["rows"][name]["seconds_per_sample"].values()) for i in instances]
        meets = round(s["share_meeting_targets"][name] * k)
        alarms = round(s["check_alarm_rate"][name] * k)
        rows.append([f"`{name}`", start, finish, budget.format(train=num(train, 1)), f"**{meets} / {k}**",
                     f"{alarms} / {k}", f"{statistics.median(sweeps):g} / {max(sweeps)}",
                     num(1e6 * statistics.median(per_sample), 0)])
    t = d["targets"]
    missed, unflagged = s["flow+1_missed"], s["flow+1_missed_unflagged"]
    body = (f"{k} images where P* is exact (transfer matrix), {d['settings']['samples']:,} samples per row. Targets: every "
            f"subject's odds within {t['subject_error']}, pixel TV ≤ {t['tv_all']} (all) and ≤ {t['tv_uncertain']} "
            f"(uncertain pixels). The check: {d['check_rounds']} more rounds (`models/finish/convergence.py`).\n\n"
            + table(["row", "start", "finish", "budget", "meets the targets", "check alarms", "sweeps (median / max)",
                     "µs per sample (median, start + finish)"], rows, mark)
            + f"\n\nThe one fixed round misses on {len(missed)} instances; the check flags "
            f"{len(missed) - len(unflagged)} of them.")
    auto = round(s["share_meeting_targets"].get("flow+auto", 0) * k)
    fixed = round(s["share_meeting_targets"].get("flow+1", 0) * k)
    false = round((s["exact_false_alarm_rate"] or 0) * k)
    if "flow+auto" not in s["share_meeting_targets"]:  # the rows without training (--rows exact,random+auto)
        random = round(s["share_meeting_targets"].get("random+auto", 0) * k)
        headline = [(f"exact suite, rows without training ({k} exact images): the check's false alarms on exact samples; "
                     "the automatic finish from random labelings meeting every target",
                     f"{false} / {k}; {random} / {k}", f"false alarms ≤ 5 %; odds within {t['subject_error']}, TV ≤ "
                     f"{t['tv_all']} (all) / {t['tv_uncertain']} (uncertain)")]
        return Section("Exact suite: the check's false alarms and the finish from random labelings", body, headline)
    headline = [(f"exact suite ({k} exact images): meeting every target",
                 f"automatic finish {auto} / {k} (one fixed round {fixed} / {k}); the check flags "
                 f"{len(missed) - len(unflagged)} of {len(missed)} misses, {false} / {k} false alarms",
                 f"odds within {t['subject_error']}, TV ≤ {t['tv_all']} (all) / {t['tv_uncertain']} (uncertain)")]
    return Section("Exact suite: the finish and the convergence check on exact images", body, headline)


def photo_suite(d: dict, mark: str, root: Path) -> Section:
    settings = d["settings"]
    budgets = {
        "flow": "`python train.py` (training + the automatic finish)",
        "control": "2 line sweeps from random labelings (under-finished on purpose), no training",
        "random+auto": "the automatic finish from uniform random labelings, no training",
    }
    rows = []
    for r in d["rows"]:
        target = 2 * (r["references_tv_uncertain"] or 0.0) + 0.01
        for kind, budget in budgets.items():
            x = r[kind]
            if kind == "flow":
                check = f"{'passed' if x['converged'] else 'flagged'} after {x['finish_rounds']} rounds" + (
                    " (cap)" if x.get("finish_capped") else "")
                cost = f"{num(x['train_seconds'], 0)} s (training included)"
            elif kind == "control":
                check, cost = ("passed" if x["converged"] else "flagged"), "–"
            else:
                check = f"{'passed' if x['converged'] else 'not passed'} after {x['sweeps']} sweeps" + (
                    " (cap)" if x.get("capped") else "")
                cost = f"{num(x['seconds'], 0)} s"
            rows.append([f"{r['photo']} @ {r['max_size']} px", f"`{kind}`", budget,
                         f"{num(x['tv_uncertain'])} (≤ {num(target)})",
                         f"{num(x['entropy_sum_flow'], 0)} vs {num(x['entropy_sum_reference'], 0)}",
                         f"**{yes(x['meets_targets'])}**", check, cost])
    planned = len(settings["photos"]) * len(settings["sizes"])
    done = len(d["rows"])
    s = d["summary"]
    flagged = round(s["control_flagged"] * done)
    met = round(s["flow_meeting_targets"] * done)
    incomplete = "" if d.get("complete") else f" **Incomplete: {done} of the {planned} planned rows were measured.**"
    body = (f"Bundled photos at several sizes, 3 k-means classes, {settings['samples']:,} samples per row, against two "
            f"independent chain references ({d['reference_kernel']}, {settings['chains']} chains, {settings['burn_in']} "
            "burn-in + "
            f"{settings['sweeps']} recorded steps: one from random labelings, one from the data term). "
            "Targets: uncertain-pixel TV ≤ 2 × "
            f"the references' TV to each other + 0.01; Σ pixel entropy within 10 % of the reference's.{incomplete}\n\n"
            + table(["photo", "row", "budget", "TV uncertain (target)", "Σ entropy vs reference", "meets", "check",
                     "seconds"], rows, mark)
            + "\n\nDefault runs that miss a target while their check passed: "
            + (", ".join(s["flow_missed_unflagged"]) or "none") + ".")
    sizes = " and ".join(map(str, settings.get("sizes", [])))
    headline = [(f"photo suite ({len(settings['photos'])} photos at {sizes} px): the default run meets the targets",
                 ("" if d.get("complete") else f"incomplete ({done} of {planned} rows): ") + f"{met} of {done}; missed and not flagged by the check: {', '.join(s['flow_missed_unflagged']) or 'none'}; "
                 f"the check flags the under-finished control on {flagged} of {done}",
                 "TV unc. ≤ 2 × floor + 0.01, Σ entropy ± 10 %")]
    return Section(f"Photo suite at {sizes} px: photos against chain references", body, headline)


def _cost(timing: dict, sw: int, line: int, hb: int) -> float:
    """Seconds per sample of a finish over the flow's sampling, from the best-of-3 timings."""
    return (sw * timing["sw_sweep"] + line * timing["line_sweep"] + hb * timing["hb_sweep"]) / timing["flow_sample"]


def exact_images(d: dict, mark: str, root: Path) -> Section:
    chosen = [("flow", 0, 0, 0), ("flow", 1, 1, 1), ("meanfield", 0, 0, 0), ("meanfield", 1, 1, 1), ("random", 1, 1, 1)]
    rows, round_rows = [], []
    for name, image in d["images"].items():
        train = image["train_seconds"]
        floor = image["noise_floor"]
        rows.append([name, f"{d['settings']['samples']:,} exact samples (noise floor, expected)", "–",
                     num(floor["odds_error_mean"]), num(floor["tv_all"]), num(floor["tv_uncertain"]), "–", "–"])
        for start, sw, line, hb in chosen:
            r = next((r for r in image["rows"] if (r["start"], r["sw"], r["line"], r["hb"], r["order"])
                      == (start, sw, line, hb, "interleaved")), None)
            if r is None:
                continue
            finish = "none" if not (sw or line or hb) else f"{sw} SW + {line} line + {hb} HB"
            budget = {"flow": f"training ({num(train['flow'], 0)} s) outside the seconds",
                      "meanfield": f"training ({num(train['meanfield'], 0)} s) outside the seconds",
                      "random": "no training"}[start]
            cost = num(_cost(image["timing_best_of_3"], sw, line, hb), 2) + "×" if start == "flow" and finish != "none" else "–"
            rows.append([name, f"{start}, finish: {finish}", budget, f"**{num(r['odds_error'])}**", num(r["tv_all"]),
                         num(r["tv_uncertain"]), cost, yes(r["meets_targets"])])
            if start == "flow" and finish != "none":
                round_rows.append((r, _cost(image["timing_best_of_3"], sw, line, hb)))
    t = d["targets"]
    fewest = d["fewest_sweeps"].get("fewest")
    body = (f"6-row images where P* is exact (transfer matrix); {d['settings']['samples']:,} samples per row. Targets: "
            f"worst subject-odds error ≤ {t['odds_error']}, pixel TV ≤ {t['tv_all']} (all) and ≤ {t['tv_uncertain']} "
            "(uncertain). The finish's cost is per sample, over the flow's own sampling (best of 3).\n\n"
            + table(["image", "row", "budget", "worst odds error", "TV all", "TV uncertain", "finish / flow time", "meets"],
                    rows, mark)
            + ("" if not fewest else f"\n\nThe cheapest finish meeting the targets on every image: {fewest[0]} SW + "
               f"{fewest[1]} line + {fewest[2]} HB ({fewest[3]})."))
    headline = []
    if round_rows:
        odds = [r["odds_error"] for r, _ in round_rows]
        unc = [r["tv_uncertain"] for r, _ in round_rows]
        headline.append(("exact 6-row images: flow + one finish round, worst odds error / TV uncertain",
                         f"{span(odds)} / ≤ {num(max(u for u in unc if u is not None))}; the finish "
                         f"{span([c for _, c in round_rows], 2)}× the flow's time",
                         f"≤ {t['odds_error']} / ≤ {t['tv_uncertain']}"))
    return Section("Exact 6-row images: the flow and its finish", body, headline)


def stationary(d: dict, mark: str, root: Path) -> Section:
    targets = script_constant(root, "exact_images.py", "TARGETS")
    groups: dict[tuple, list] = {}
    for r in d["rows"]:
        groups.setdefault((r["image"], r["stationary"]), []).append(r)
    rows = []
    for (image, stat), runs in groups.items():
        rows.append([image, "stationary (`image-stationary`)" if stat else "per node (`image`)",
                     f"{len(runs)} seeds, the recipe's steps ({span([r['train_seconds'] for r in runs], 1)} s)",
                     span([r["alone"]["odds_error"] for r in runs]), f"**{span([r['finished']['odds_error'] for r in runs])}**",
                     span([r["finished"]["tv_all"] for r in runs]), span([r["finished"]["tv_uncertain"] for r in runs])])
    body = (f"The stationary start against the per-node one on the exact 6-row images, {d['samples']:,} samples. "
            f"Targets: odds error ≤ {targets['odds_error']}, TV ≤ {targets['tv_all']} (all) and ≤ {targets['tv_uncertain']} "
            "(uncertain). Ranges over seeds.\n\n"
            + table(["image", "start", "budget", "odds error, flow alone", "odds error, finished", "TV all, finished",
                     "TV uncertain, finished"], rows, mark))
    finished = [r["finished"]["odds_error"] for r in d["rows"] if r["stationary"]]
    headline = [("stationary start (trains on crops, samples other images): odds error after the finish",
                 span(finished), f"≤ {targets['odds_error']}")]
    return Section("Stationary start on exact images", body, headline)


OLD_NAMES = {"swendsen-wang": "sw", "heat-bath": "hb"}  # the kernels' names in JSONs written before the registry
TTA_BUDGETS = {
    **{name: f"random labelings, then {kernel.does.split(':')[0]} sweeps only" for name, kernel in KERNELS.items()},
    "flow": "training on this image counted, then SW, line, HB sweeps in turn",
    "flow reused": "training elsewhere ({donor} s on the bundled image) not counted, then SW, line, HB sweeps in turn",
}


def time_to_accuracy(d: dict, mark: str, root: Path) -> Section:
    t = d["targets"]
    reached = lambda r, key: r["reached"].get(key)  # noqa: E731
    show = lambda x: "not reached" if x is None else f"{num(x['seconds'], 2)} s ({plural(x['sweeps'], 'sweep')})"  # noqa: E731

    def both(r):  # seconds until every target that applies is met; None if one is not
        keys = [k for k in t if r["final"].get(k) is not None or reached(r, k)]
        return None if any(reached(r, k) is None for k in keys) else max(reached(r, k)["seconds"] for k in keys)

    rows, open_rows = [], []
    by_instance: dict[str, list] = {}
    for r in d["rows"]:
        by_instance.setdefault(r["instance"], []).append(r)
    for name, runs in by_instance.items():
        chains = [both(r) for r in runs if OLD_NAMES.get(r["sampler"], r["sampler"]) in KERNELS]
        fastest = min((c for c in chains if c is not None), default=None)
        for r in runs:
            flow = r["sampler"].startswith("flow")
            budget = TTA_BUDGETS.get(OLD_NAMES.get(r["sampler"], r["sampler"]), "").format(donor=num(d["reused_from"]["train_seconds"], 1))
            mine = both(r)
            ratio = ("–" if not flow else "chains never" if fastest is None and mine is not None else
                     "–" if mine is None or fastest is None else f"{num(fastest / mine, 1)}× faster" if mine <= fastest
                     else f"{num(mine / fastest, 1)}× slower")
            rows.append([name, r["sampler"], budget, show(reached(r, "tv_all")),
                         show(reached(r, "odds_error")) if r["subjects"] else "no subjects", ratio])
            if r["sampler"] == "flow reused" and r["subjects"]:
                open_rows.append((mine, fastest))
    best = f"; each the fastest of {d['repeats']} runs" if d.get("repeats", 1) > 1 else ""
    body = (f"Wall-clock from nothing until the mean pixel TV ≤ {t['tv_all']} and every subject's odds within "
            f"{t['odds_error']} ({d['samples']:,} samples, at most {d['max_sweeps']} sweeps{best}). Targets (issue 19): where "
            "regions are open, the reused flow ≥ 3× faster than the faster chain; on photos within 2× of the fastest "
            "(issue 34: no later than the fastest).\n\n"
            + table(["instance", "sampler", "budget", f"TV ≤ {t['tv_all']}", f"odds within {t['odds_error']}",
                     "flow vs the fastest chain"], rows, mark))
    headline = []
    if open_rows:
        mine = [m for m, _ in open_rows if m is not None]
        chains = [f for _, f in open_rows]
        headline.append(("time to accuracy where regions are open: the reused flow vs chains from random labelings",
                         f"reused flow {span(mine, 2)} s (its {num(d['reused_from']['train_seconds'], 0)} s of training "
                         f"elsewhere not counted); fastest chain "
                         + ("never" if all(c is None for c in chains) else span([c for c in chains if c], 1) + " s"
                            + (" or never" if any(c is None for c in chains) else ""))
                         + f" within {d['max_sweeps']} sweeps (one kernel each, from random labelings)",
                         "≥ 3× faster than the fastest chain"))
    return Section("Time to accuracy: the flow against chains", body, headline)


def photos(d: dict, mark: str, root: Path) -> Section:
    rows = []
    for r in d["rows"]:
        reused = "trained_on" in r
        budget = (f"no training on this photo (trained on {r['trained_on']}); sampling {num(r['sample_seconds'], 1)} s"
                  if reused else f"`train.py` on this photo ({num(r['train_seconds'], 0)} s)")
        rows.append([r["photo"], r["randomness"], budget, f"**{num(r['tv_all'])}**", f"**{num(r['tv_uncertain'])}**",
                     f"{num(r['references_tv_all'], 4)} / {num(r['references_tv_uncertain'], 4)}",
                     f"{num(r['entropy_sum_flow'], 0)} vs {num(r['entropy_sum_reference'], 0)}"])
    ref = d["reference"]
    body = (f"Pixel marginals of the flow's {d['samples']:,} samples against two independent checkerboard-Gibbs "
            f"references ({ref['chains']} chains, {ref['burn_in']} burn-in + {ref['sweeps']} recorded sweeps); their TV to "
            f"each other is the floor no model can be told apart below. Uncertain: the reference's largest marginal "
            f"< {d['uncertain_below']}.\n\n"
            + table(["photo", "randomness", "budget", "TV all", "TV uncertain", "floor: all / uncertain",
                     "Σ entropy vs reference"], rows, mark))
    local = [r for r in d["rows"] if r["randomness"] == "local" and "trained_on" not in r]
    headline = [("real photos (64 px) vs two Gibbs references: TV all / uncertain",
                 "; ".join(f"{r['photo']} {num(r['tv_all'])} / {num(r['tv_uncertain'])}" for r in local),
                 "floors " + "; ".join(f"{num(r['references_tv_all'], 4)} / {num(r['references_tv_uncertain'], 3)}"
                                       for r in local))] if local else []
    return Section("Real photos against Gibbs references", body, headline)


def independence(d: dict, mark: str, root: Path) -> Section:
    cells, m = 2 ** d["k"], d["samples"]
    p = 1 / cells
    floor = 0.5 * cells * math.sqrt(2 * p * (1 - p) / (math.pi * m))  # E TV of m exact samples (normal approximation)
    rows = [["exact samples (expected)", "–", num(floor), "–", "–"]]
    rows += [[r["model"], f"`train.py` defaults for it ({num(r['train_seconds'], 0)} s)", f"**{num(r['tv_to_uniform'])}**",
              num(r["p_value"], 2), span(r["coherence"])] for r in d["rows"]]
    body = (f"{d['k']} cat-or-lion subjects ({d['image']}) whose {cells} combinations are equally likely under P*: the "
            f"frequencies of {m:,} samples against uniform.\n\n"
            + table(["model", "budget", "TV to uniform", "χ² p-value", "subject coherence"], rows, mark))
    default = next((r for r in d["rows"] if r["model"] == "default"), None)
    headline = [(f"k = {d['k']} separated subjects: TV to uniform over the {cells} combinations",
                 f"{num(default['tv_to_uniform'])} (χ² p = {num(default['p_value'], 2)})",
                 f"exact samples ≈ {num(floor)}")] if default else []
    return Section("Local randomness: separate regions decide independently", body, headline)


def full_size(d: dict, mark: str, root: Path) -> Section:
    t = d["targets"]
    wall_target, rss_target = t.get("wall_seconds_512"), t["peak_rss_gb_512"]
    rows = []
    for r in d["rows"]:
        big = r["size"] == 512
        rows.append([r.get("photo", "chelsea"), f"{r['size']}²", f"the default recipe, {r['steps']} steps",
                     f"**{num(r['wall_seconds'], 0)}**" + (f" (≤ {wall_target} s)" if big and wall_target else ""),
                     num(r["train_seconds"], 0), num(r["rest_seconds"], 0),
                     f"**{num(r['peak_rss_gb'], 2)}**" + (f" (≤ {rss_target} GB)" if big else ""), r["evaluation_samples"],
                     f"{r.get('finish_rounds', '–')} rounds, converged {r.get('converged', '–')}"])
    body = (f"`python train.py --image <photo> --classes 3` in its own process; the photo: {d['photo']}.\n\n"
            + table(["photo", "size", "budget", "wall s", "training s", "start-up + evaluation s", "peak RSS GB",
                     "evaluation samples", "finish"], rows, mark))
    big = [r for r in d["rows"] if r["size"] == 512]
    headline = [(f"a 512 × 512 photo's default run ({len(big)} photos): wall / peak RSS",
                 f"{num(max(r['wall_seconds'] for r in big), 0)} s / {num(max(r['peak_rss_gb'] for r in big), 2)} GB at most",
                 f"≤ {wall_target} s / {rss_target} GB")] if big and wall_target else []
    return Section("Full-size photos", body, headline)


def sharing(d: dict, mark: str, root: Path) -> Section:
    rows = [[r["policy"] if r["policy"] == "default" or "=" in r["policy"] else f"`OMP_WAIT_POLICY={r['policy']}`", num(r["alone_seconds"], 1), ", ".join(num(x, 1) for x in r["together_seconds"]),
             f"**{num(r['worst_ratio'], 1)}×** (≤ {d['target_ratio']}×)"] for r in d["rows"]]
    body = (f"`python train.py --quiet` (the bundled default) alone, then {d['runs']} started together on {d['cpus']} cores, "
            f"threads {d['threads'] or 'one per core'}.\n\n"
            + table(["wait policy", "alone s", f"{d['runs']} together s", "worst together / alone"], rows, mark))
    passive = next((r for r in d["rows"] if r["policy"] == "default"), None)
    headline = [(f"{d['runs']} default runs started together on {d['cpus']} cores: the slowest against one alone",
                 f"{num(passive['worst_ratio'], 1)}×", f"≤ {d['target_ratio']}×")] if passive else []
    return Section("Runs that share the machine", body, headline)


def perf(d: dict, mark: str, root: Path) -> Section:
    sizes = sorted(int(k.rsplit("_", 1)[1]) for k in d if k.startswith("samples_per_second_") and "alone" not in k)
    rows = [["exact log Z + marginals of Table 1 (2²⁴ states)", f"{num(1e3 * d['exact_seconds_2p24'], 1)} ms", "best of 5"]]
    for s in sizes:
        rows.append([f"integer samples per second, {s}×{s}, 3 labels", f"**{num(d[f'samples_per_second_{s}'], 0)}** with the "
                     f"finish, {num(d[f'samples_per_second_flow_alone_{s}'], 0)} the flow alone",
                     "an initialised (untrained) conv flow, the image recipe, one fixed round of its finish"])
        rows.append([f"seconds per training step, {s}×{s}", num(d[f"seconds_per_step_{s}"], 3), "the image recipe's samples per step"])
        if f"kernel_ns_{s}" in d:
            torch_code, bound = d.get(f"kernel_ns_torch_{s}", {}), d.get("kernel_bound_ns", {})

            def beside(k: str) -> str:  # the kernel's torch code and its arithmetic bound, where the JSON has them
                notes = ([f"torch code {num(torch_code[k], 1)}"] if k in torch_code else []) + \
                        ([f"bound {num(bound[k], 2)}"] if k in bound else [])
                return f" ({'; '.join(notes)})" if notes else ""

            rows.append([f"one sweep, ns per pixel and sample, {s}×{s}",
                         ", ".join(f"{k} {num(v, 1)}{beside(k)}" for k, v in d[f"kernel_ns_{s}"].items()),
                         f"each registered kernel on the flow's own samples, {d.get('kernels', 'torch')} "
                         "(models/kernels/native: compiled where a C compiler builds it)"
                         + (f"; bound: its counted operations ({', '.join(f'{k} {v}' for k, v in d['kernel_ops'].items())}) "
                            f"at the CPU's vector peak, {num(d['peak_ops_per_ns'], 0)} per ns" if bound else "")])
    if d.get("seconds_to_kl_0599") is not None or "kl_history" in d:
        rows.append(["training seconds until the KL on Table 1 ≤ 0.599 (the paper's)", num(d.get("seconds_to_kl_0599"), 1),
                     "training only (the KL evaluations are not counted)"])
    ess = d.get("mode_ess")
    if ess:
        rows.append(["cat-or-lion ESS per second, flow over Gibbs", f"**{num(d['mode_ess_ratio_af_over_gibbs'], 0)}×** "
                     f"({num(ess['flow_ess_per_second'], 0)} vs {num(ess['gibbs_ess_per_second'], 1)})",
                     f"uneven: the flow's {num(ess['flow_train_seconds'], 1)} s of training and Gibbs' {ess['gibbs_burn_in']} "
                     f"burn-in sweeps are outside both clocks; Gibbs is single-site checkerboard ({ess['gibbs_chains']} chains "
                     f"× {ess['gibbs_sweeps']} sweeps, {ess['gibbs_switches']} mode switches), no Swendsen–Wang"])
    body = "Speed of the pieces, measured on the machine below.\n\n" + table(["figure", "measured", "budget"], rows, mark)
    headline = [("speed: integer samples per second with the finish, " + " / ".join(f"{s}²" for s in sizes),
                 " / ".join(num(d[f"samples_per_second_{s}"], 0) for s in sizes), "–")]
    return Section("Speed", body, headline)


def bounds(d: dict, mark: str, root: Path) -> Section:
    parts, headline = [], []
    if "tiny" in d:
        rows = [[r["sampler"], "untrained", f"{num(r['kl_lower'])} ≤ **{num(r['kl_measured'], 4)}** ≤ {num(r['kl_upper'])}",
                 num(r["plugin_bias_at_most"], 4), yes(r["bracketed"])] for r in d["tiny"]]
        parts.append("**Tiny image (2×4, 3 labels)**: the logged bounds beside the KL measured from samples against "
                     "exact enumeration.\n\n" + table(["sampler", "budget", "lower ≤ measured KL ≤ upper",
                                                        "plug-in bias ≤", "bracketed"], rows, mark))
        headline.append(("KL bounds logged in training bracket the measured KL (tiny image)",
                         f"{sum(r['bracketed'] for r in d['tiny'])} of {len(d['tiny'])} samplers", "all"))
    if "strip" in d:
        s = d["strip"]
        rows = [[r["model"], f"its own steps ({num(r['train_seconds'], 1)} s)",
                 f"{num(r['kl_lower'], 2)} ≤ KL ≤ **{num(r['kl_upper'], 2)}**", num(r["tv_exact"], 4)] for r in s["rows"]]
        parts.append(f"**A {s['grid'][0]}×{s['grid'][1]} photo strip** (exact by the transfer matrix): the last logged "
                     "bounds and the exact pixel TV. Ranked by TV: " + ", ".join(s["order_by_tv"]) + "; by the upper bound: "
                     + ", ".join(s["order_by_kl_upper"]) + ".\n\n"
                     + table(["model", "budget", "logged bounds", "exact pixel TV"], rows, mark))
    if "photo" in d:
        p = d["photo"]
        rows = [[r["model"], f"its own steps ({num(r['train_seconds'], 1)} s)",
                 f"{num(r['free_energy_upper_first'], 1)} → {num(r['free_energy_upper_last'], 1)}", yes(r["falls"]),
                 num(r["tv_reference"], 4)] for r in p["rows"]]
        parts.append(f"**A {p['grid'][0]}×{p['grid'][1]} photo** (no exact log Z): the free-energy bound from the first "
                     "to the last measurement, and the pixel TV to the Gibbs reference. Ranked by TV: "
                     + ", ".join(p["order_by_tv"]) + "; by the bound: " + ", ".join(p["order_by_free_energy_upper"]) + ".\n\n"
                     + table(["model", "budget", "free-energy bound, first → last", "falls", "TV to reference"], rows, mark))
    return Section("KL bounds against the truth", "\n\n".join(parts), headline)


def ising_large(d: dict, mark: str, root: Path) -> Section:
    budget_s = num(d["budget_seconds"], 0)

    def budget(inst: dict, r: dict) -> str:
        steps = span(r.get("steps_seeds") or [], 0)
        model = r["model"]
        if model == "reference":
            return (f"Swendsen–Wang, {r['chains']} chains × {r['sweeps']} sweeps" if "chains" in r else "exact")
        if model == "meanfield":
            return (f"≤ {budget_s} s or {d['settings'].get('meanfield_steps', '?')} steps: {steps} steps, "
                    f"{d['settings'].get('restarts', '?')} restarts")
        if model == "flow":
            symmetric = inst.get("convention") == "ising"
            return (f"≤ {budget_s} s: {steps} steps; **its mean-field start is computed before the clock starts**"
                    + ("; each sample's labels permuted at random (a mirror mixture: up to log 2 at zero field)"
                       if symmetric else "") + "; 1 heat-bath sweep")
        if model == "flow-alone":
            return "the same trained flow without its sweeps"
        if model.startswith("flow+"):
            return "the flow + Swendsen–Wang sweeps (untimed); carries the flow's bound"
        if model == "van":
            return f"≤ {budget_s} s: {steps} steps, **no label symmetrisation**, no start from mean field"
        return ""

    def kl(r: dict) -> str:
        if r["model"] == "reference":
            return "–"
        value = r["kl"] if r["kl"] is not None else r.get("kl_bound")
        kind = "exact" if r["model"] == "meanfield" else "bound" if r["kl"] is None else "estimate"
        return f"{num(r.get('kl_lower'), 2)} ≤ KL ≤ **{num(r.get('kl_upper'), 2)}** ({kind} {num(value, 3)})"

    rows = []
    for inst in d["instances"]:
        goal = inst.get("target") or {}
        for r in inst["rows"]:
            target = ("–" if r["model"] != "flow" or not goal else
                      f"{yes(goal['met'])} (≤ {num(goal['mean_field_minus_log2'], 2)})")
            rows.append([inst["name"], r["model"], budget(inst, r), kl(r),
                         f"{num(r['energy_per_site'], 3)} ({num(inst['exact_energy_per_site'], 3)})",
                         f"{num(r.get('abs_magnetization'), 3)}, {num(r.get('susceptibility'), 2)}", target])
    met = [i["target"]["met"] for i in d["instances"] if i.get("target")]
    body = (f"Periodic Ising tori (exact log Z by Kaufman's formula) and a Potts strip (transfer matrix); "
            f"{d['seeds']} seeds, at most {budget_s} s of training per model and seed, {plural(d['threads'], 'thread')}. "
            "KL: upper = seed mean + 2σ (mean field: exact; VAN: an unbiased estimate; the flow: a certified bound); "
            "lower: Donsker–Varadhan. Target: the flow's upper figure ≤ mean field's exact KL − log 2. |m| and χ = "
            "N(⟨m²⟩ − ⟨|m|⟩²) of the samples (the reference row: Swendsen–Wang chains; – on the Potts strip).\n\n"
            + table(["instance", "model", "budget", "KL", "energy per site (exact)", "|m|, χ", "target met"], rows, mark))
    crit = next((i for i in d["instances"] if i.get("L") == max(j.get("L", 0) for j in d["instances"])
                 and abs(i.get("beta", 0) - 0.4407) < 1e-3), None)
    headline = []
    if crit:
        by = {r["model"]: r for r in crit["rows"]}
        headline.append((f"periodic Ising L = {crit['L']} at β_c, {d['seeds']} seeds × ≤ {budget_s} s: KL",
                         f"flow {num(by['flow']['kl_lower'], 2)} ≤ KL ≤ {num(by['flow']['kl_upper'], 2)}; mean field "
                         f"{num(by['meanfield']['kl'], 2)}; VAN {num(by['van']['kl'], 2)} (uneven budgets: the flow's "
                         "mean-field start is outside the clock and it permutes labels; the VAN does neither)",
                         f"flow ≤ mean field − log 2: met on {sum(met)} of {len(met)} instances"))
    return Section("Large Ising grids: a certified bound and the strongest peer", body, headline)


TABLES = {name: globals()[name.removesuffix(".json")] for name in DEPENDS
          if name not in ("sharing_policies.json", "exact_suite_check.json", "photo_suite_128.json")}
TABLES["sharing_policies.json"] = sharing  # the same table: spinning against passive waiting without a spin
TABLES["exact_suite_check.json"] = exact_suite  # the rows that need no training
TABLES["photo_suite_128.json"] = photo_suite  # the same table, 128 px (a run of its own: its references take longest)


# -- the documents ----------------------------------------------------------------------------------------
def provenance_lines(p: dict, paths: list[str], status: Status) -> str:
    machine = p.get("machine") or {}
    load = machine.get("load_average_1min")
    commit = p.get("commit")
    shown = f"`{commit[:7]}{'-dirty' if commit.endswith('-dirty') else ''}`" if commit else "an unrecorded commit"
    command = f"`{p['command']}`" if p.get("command") else "not recorded"
    parts = [f"{machine.get('cpus', '?')} CPUs", f"torch {machine.get('torch', '?')}",
             f"{machine.get('threads', '?')} torch threads", "load " + (num(load, 2) if load is not None else "not recorded")]
    date = (p.get("date") or "an unrecorded date").replace("T", " ").replace("+00:00", " UTC")
    return "\n".join([
        f"- **{status.mark}**: {status.reason}.",
        f"- reproduce: {command}",
        f"- measured at {shown} on {date}; machine: "
        + ", ".join(parts) + (f" ({machine['platform']})" if machine.get("platform") else ""),
        "- depends on: " + (", ".join(f"`{path}`" for path in paths) or "not listed in `DEPENDS`"),
    ])


def anchor(name: str) -> str:
    return name.removesuffix(".json").replace("_", "-")


def load_sections(root: Path) -> list[tuple[str, Section, Status]]:
    """``(json name, its section, its staleness)`` for every JSON in ``benchmarks/results`` (``*_quick`` smoke outputs skipped)."""
    folder = root / "benchmarks" / "results"
    found = {p.name: p for p in sorted(folder.glob("*.json")) if not p.stem.endswith("_quick")}
    order = [n for n in DEPENDS if n in found] + [n for n in found if n not in DEPENDS]
    out = []
    for name in order:
        data = json.loads(found[name].read_text(encoding="utf-8"))
        prov = data.get("provenance") or {}
        paths = DEPENDS.get(name)
        status = (staleness(prov.get("commit"), paths, root) if paths is not None
                  else Status("unknown", "benchmarks/results_tables.py has no DEPENDS entry for it"))
        if name in TABLES:
            section = TABLES[name](data, status.mark, root)
        else:
            section = Section(name, "No table for this JSON yet: add a function to `benchmarks/results_tables.py`.", [])
        section.body += "\n\n" + provenance_lines(prov, paths or [], status)
        out.append((name, section, status))
    return out


def overview(sections, link_prefix: str) -> str:
    """The headline figures of every section, one table (the README's, and the top of docs/results.md)."""
    rows = []
    for name, section, status in sections:
        for what, measured, target in section.headlines:
            rows.append(f"| {status.mark} | [{what}]({link_prefix}#{anchor(name)}) | {measured} | {target} |")
    return "\n".join(["| status | result | measured | target / paper |", "|---|---|---|---|", *rows])


def render_docs(sections) -> str:
    stale = [n for n, _, s in sections if s.state != "current"]
    parts = [
        "# Results",
        "",
        f"Generated by `{REGENERATE}` from `benchmarks/results/*.json`: do not edit by hand. "
        "Each section gives its JSON's figures, the command that reproduces them, the machine and the date.",
        "",
        "**Status.** A result is **⚠ stale** when a commit that touched the code it measures (its *depends on* list) is "
        "newer than the commit it was measured at, or when that commit is not in this repository's history; the figure "
        "may still hold, but it was not measured on the current code. Rerun its command to refresh it, then "
        f"`{REGENERATE}`. **? unknown**: no git history to tell (a shallow clone or no git). "
        "The *budget* columns say what each method was given where a comparison is uneven.",
        "",
        f"Stale or unknown now: {', '.join(f'[{n}](#{anchor(n)})' for n in stale) if stale else 'none'}.",
        "",
        "## Overview",
        "",
        overview(sections, ""),
    ]
    for name, section, _ in sections:
        parts += ["", f'<a id="{anchor(name)}"></a>', "", f"## {section.title} (`{name}`)", "", section.body]
    return "\n".join(parts) + "\n"


def readme_block(sections) -> str:
    return (f"{BEGIN}\n<!-- generated by {REGENERATE}: do not edit by hand -->\n"
            + overview(sections, DOCS.as_posix())
            + f"\n\nEvery figure with its command, machine, date and budget: [{DOCS.as_posix()}]({DOCS.as_posix()}). "
            "⚠ stale: the code it measures changed after it was measured.\n" + END)


def with_block(readme: str, block: str) -> str | None:
    """``readme`` with the lines from BEGIN to END replaced by ``block``; ``None`` without both markers."""
    lines = readme.splitlines(keepends=True)
    begin = next((i for i, line in enumerate(lines) if line.strip() == BEGIN), None)
    end = next((i for i, line in enumerate(lines) if line.strip() == END and begin is not None and i > begin), None)
    if begin is None or end is None:
        return None
    return "".join(lines[:begin]) + block + "\n" + "".join(lines[end + 1:])


def outputs(root: Path = ROOT) -> tuple[dict[Path, str], str | None]:
    """``{path: text it should have}`` and a note when README.md has no results markers."""
    sections = load_sections(root)
    out = {root / DOCS: render_docs(sections)}
    readme = root / README
    new = with_block(readme.read_text(encoding="utf-8"), readme_block(sections)) if readme.exists() else None
    if new is None:
        return out, f"{README} has no {BEGIN} / {END} markers: left alone"
    out[readme] = new
    return out, None


def differing(expected: dict[Path, str]) -> list[Path]:
    return [p for p, text in expected.items() if not p.exists() or p.read_text(encoding="utf-8") != text]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/results.md or the README block is out of date")
    args = parser.parse_args(argv)
    expected, note = outputs(ROOT)
    if args.check:
        wrong = differing(expected)
        if wrong:
            names = " and ".join(p.relative_to(ROOT).as_posix() for p in wrong)
            verb = "differs" if len(wrong) == 1 else "differ"
            print(f"{names} {verb} from what the benchmark JSONs and the git history give: run `{REGENERATE}`")
            return 1
        return 0
    for path, text in expected.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        if path in differing({path: text}):
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)}")
    if note:
        print(note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
