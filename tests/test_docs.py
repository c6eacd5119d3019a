"""The documentation's links lead somewhere: every relative link (and image) in README.md, docs/*.md and
tests/README.md names a file or folder of the repository, and every ``#anchor`` into a Markdown file names one of
its headings (GitHub's anchors) or an explicit ``<a id>``. The README stays short and keeps the test command that
``.ci/run`` runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = sorted([REPO / "README.md", REPO / "tests" / "README.md", *(REPO / "docs").glob("*.md")])
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(([^()\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)


def links(text: str) -> list[str]:
    """The link targets of ``text``'s Markdown links and images, outside fenced code and inline code."""
    text = FENCE.sub("", text)
    text = re.sub(r"`[^`\n]*`", "", text)
    return LINK.findall(text)


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, markup and punctuation dropped, spaces as hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip())  # a link's text
    text = text.lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """The anchors a Markdown page offers: one per heading (``-1``, ``-2`` … for repeats) and each ``<a id>``."""
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    out, seen = set(), {}
    for line in text.splitlines():
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if match:
            base = slug(match[1])
            n = seen.get(base, 0)
            seen[base] = n + 1
            out.add(base if n == 0 else f"{base}-{n}")
    out.update(re.findall(r"<a\s+(?:id|name)=\"([^\"]+)\"", text))
    return out


def test_the_pages_exist():
    for name in ("README.md", "tests/README.md", "docs/usage.md", "docs/metrics.md", "docs/architecture.md",
                 "docs/research.md", "docs/convergence.md", "LICENSE", "CITATION.cff"):
        assert (REPO / name).is_file(), f"{name} is missing"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_relative_link_resolves(page):
    broken = []
    for target in links(page.read_text(encoding="utf-8")):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # https:, mailto:, …: not checked here
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target} (no {file.relative_to(REPO) if file.is_relative_to(REPO) else file})")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(f"{target} (no heading #{anchor} in {file.relative_to(REPO)})")
    assert not broken, f"{page.relative_to(REPO)}: broken links: " + "; ".join(broken)


def test_the_slugs_follow_github():
    assert slug("Your own data term: `--unary`") == "your-own-data-term---unary"
    assert slug("The Table 1 instance") == "the-table-1-instance"
    assert slug("Fig. 1 in numbers (5 seeds)") == "fig-1-in-numbers-5-seeds"
    assert links("see [a](x.md#y), ![b](p.png) and `[c](not.md)`\n```\n[d](nor.md)\n```") == ["x.md#y", "p.png"]


def test_the_readme_is_short_and_keeps_the_test_command():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 250, "the README is for users: move details to docs/"
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    command = 'python -m pytest -m "not slow"'
    assert command in ci and command in readme, "the README's test command is the one .ci/run runs"
    hashes = re.findall(r"\b(?=[0-9a-f]*[a-f])(?=[0-9a-f]*[0-9])[0-9a-f]{7,40}\b", FENCE.sub("", readme))
    assert not hashes, f"no commit hashes in the README (history lives in git): {hashes}"
