"""The house's layers (docs/architecture.md): every import runs down, and no module imports itself round a circle.

Read from the source with ``ast`` (imports inside functions count too), so a new file is checked without being listed.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).parents[1]
#: top-level packages by layer: a package imports only from lower layers (and itself)
LAYERS = {"energies": 0, "data": 1, "models": 1, "metrics": 2, "pictures": 2, "callbacks": 3, "run": 4}
#: inside models/: the model contract, the kernels, the finish, the baselines, the flow, the package's front
MODEL_LAYERS = {"models.energy_model": 0, "models.last_draw": 0, "models.native": 0, "models.kernels": 1, "models.finish": 2,
                "models.baselines": 3, "models.flow": 4, "models": 5}


def modules() -> dict[str, Path]:
    found = {}
    for package in LAYERS:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(path: Path, name: str, known: set[str]) -> set[str]:
    """The project modules ``path`` imports (``from a.b import c`` counts as ``a.b.c`` where that is a module)."""
    out = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        out |= {t for t in targets if t.split(".")[0] in LAYERS}
    return out


def _prefix_layer(module: str) -> int:
    best = max((p for p in MODEL_LAYERS if module == p or module.startswith(p + ".")), key=len)
    return MODEL_LAYERS[best]


def upward(found: dict[str, Path]) -> list[str]:
    """``"a → b"`` for every import that runs up or across the layers."""
    wrong = []
    for name, path in found.items():
        for target in imports(path, name, set(found)):
            mine, theirs = name.split(".")[0], target.split(".")[0]
            if mine != theirs and not LAYERS[theirs] < LAYERS[mine]:
                wrong.append(f"{name} → {target}")
            if mine == theirs == "models" and name != "models" and _prefix_layer(target) > _prefix_layer(name):
                wrong.append(f"{name} → {target}")
    return sorted(wrong)


def test_every_import_runs_down_the_layers(tmp_path):
    found = modules()
    assert not upward(found), "imports that run up or across the layers:\n" + "\n".join(upward(found))
    # the failing control: a kernel that reaches up into the flow, a model that reads data
    (tmp_path / "k.py").write_text("def f():\n    from models.flow.randomized_flow import RandomizedFlow\n")
    (tmp_path / "m.py").write_text("import data.image_io\n")
    planted = {**found, "models.kernels.k": tmp_path / "k.py", "models.baselines.m": tmp_path / "m.py"}
    assert upward(planted) == ["models.baselines.m → data.image_io", "models.kernels.k → models.flow.randomized_flow"]


def test_no_module_imports_itself_round_a_circle():
    found = modules()
    graph = {name: {t for t in imports(path, name, set(found)) if t in found and t != name} for name, path in found.items()}
    done, path = set(), []

    def visit(node: str) -> None:
        if node in path:
            raise AssertionError("import circle: " + " → ".join(path[path.index(node):] + [node]))
        if node in done:
            return
        path.append(node)
        for nxt in sorted(graph[node]):
            visit(nxt)
        path.pop()
        done.add(node)

    for name in sorted(graph):
        visit(name)


def test_no_two_things_are_called_figures():
    """Numbers live in metrics/, pictures in pictures/ (and benchmarks/pictures/)."""
    assert not (ROOT / "figures").exists() and not (ROOT / "benchmarks" / "figures").exists()
