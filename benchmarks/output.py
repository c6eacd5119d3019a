"""Where the benchmarks' JSON goes: one place that writes it."""

from __future__ import annotations

import json
from pathlib import Path


def write_json(path: Path, result: dict) -> None:
    """Write ``result`` as indented JSON to ``path`` (creating its folder) and say so."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2))
    print(f"wrote {path}")
