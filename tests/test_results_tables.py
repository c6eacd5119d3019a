"""benchmarks/results_tables.py: docs/results.md is what the JSONs give, and a figure measured before its code
changed is marked stale in its table."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from benchmarks import results_tables as rt

REPO = Path(__file__).resolve().parents[1]
needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def why_no_history() -> str | None:
    """Why the committed docs cannot be checked here (the staleness marks need the JSONs' commits), or ``None``."""
    if shutil.which("git") is None:
        return "git is not installed"
    done = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--is-shallow-repository"], capture_output=True, text=True)
    if done.returncode:
        return "not a git checkout"
    if done.stdout.strip() == "true":
        return "a shallow clone: the commits the JSONs were measured at may be missing"
    return None


def test_the_committed_results_are_what_the_script_writes():
    reason = why_no_history()
    if reason:
        pytest.skip(reason)
    assert rt.main(["--check"]) == 0, "docs/results.md is out of date: run python benchmarks/results_tables.py and commit it"


def test_every_result_has_its_dependencies_and_a_table_and_they_exist():
    results = [p.name for p in (REPO / "benchmarks" / "results").glob("*.json") if not p.stem.endswith("_quick")]
    assert results
    for name in results:
        assert name in rt.DEPENDS and name in rt.TABLES, f"{name}: add it to DEPENDS and write its table function"
    for name, paths in rt.DEPENDS.items():
        for path in paths:  # a moved or renamed folder must be followed here, or nothing would mark its figures stale
            assert (REPO / path).exists(), f"DEPENDS[{name!r}] names {path}, which does not exist"


# -- the staleness rule on a tiny repository ---------------------------------------------------------------
def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false",
                           *args], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def commit(repo: Path, path: str, text: str, message: str) -> str:
    file = repo / path
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(text)
    git(repo, "add", path)
    git(repo, "commit", "-q", "-m", message, "--", path)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def history(tmp_path, monkeypatch):
    """A repository: models/ written, an unrelated commit (the JSON's), models/ changed, another unrelated commit."""
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))  # never the repository around tmp_path, if any
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    commits = {"first": commit(repo, "models/flow.py", "v1\n", "the model")}
    commits["measured"] = commit(repo, "notes.txt", "a\n", "the benchmark ran here")
    commits["changed"] = commit(repo, "models/flow.py", "v2\n", "the model changes")
    commits["later"] = commit(repo, "notes.txt", "b\n", "unrelated")
    return repo, commits


@needs_git
def test_a_result_measured_before_its_code_changed_is_stale(history):
    repo, c = history
    status = rt.staleness(c["measured"], ["models/"], repo)
    assert status.state == "stale" and "`models/`" in status.reason
    assert rt.staleness(c["first"], ["models/flow.py"], repo).state == "stale"


@needs_git
def test_a_result_measured_at_or_after_the_change_is_current(history):
    repo, c = history
    for at in ("changed", "later"):
        assert rt.staleness(c[at], ["models/"], repo).state == "current"


@needs_git
def test_only_the_paths_it_measures_count(history):
    repo, c = history
    assert rt.staleness(c["measured"], ["data/"], repo).state == "current"  # never touched
    assert rt.staleness(c["changed"], ["notes.txt"], repo).state == "stale"  # touched at "later"
    status = rt.staleness(c["first"], ["models/", "notes.txt"], repo)  # both changed after "first"
    assert status.state == "stale" and "`models/`" in status.reason and "`notes.txt`" in status.reason
    status = rt.staleness(c["changed"], ["data/", "models/", "notes.txt"], repo)  # only notes.txt changed after it
    assert status.reason.endswith(": `notes.txt`")


@needs_git
def test_a_dirty_commit_is_judged_by_the_commit_it_was_made_on(history):
    repo, c = history
    assert rt.staleness(c["measured"] + "-dirty", ["models/"], repo).state == "stale"
    status = rt.staleness(c["changed"] + "-dirty", ["models/"], repo)
    assert status.state == "current" and "uncommitted" in status.reason


@needs_git
def test_a_commit_outside_the_history_is_stale_with_unknown_provenance(history):
    repo, _ = history
    for commit_id in ("0" * 40, None, ""):
        status = rt.staleness(commit_id, ["models/"], repo)
        assert status.state == "stale" and "provenance unknown" in status.reason


@needs_git
def test_a_shallow_clone_without_the_commit_says_unknown(history, tmp_path):
    repo, c = history
    shallow = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "1", repo.as_uri(), str(shallow)], check=True, capture_output=True)
    status = rt.staleness(c["measured"], ["models/"], shallow)
    assert status.state == "unknown" and "shallow" in status.reason


def test_without_git_the_state_is_unknown(tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    assert rt.staleness("a" * 40, ["models/"], tmp_path).state == "unknown"  # a folder outside any repository

    def no_git(*args, **kwargs):
        raise FileNotFoundError("git")

    monkeypatch.setattr(rt.subprocess, "run", no_git)
    status = rt.staleness("a" * 40, ["models/"], REPO)
    assert status.state == "unknown" and status.mark == "? unknown"


# -- the mark in the table, and the check -------------------------------------------------------------------
def with_table1(repo: Path, commit_id: str) -> None:
    """Table 1's JSON in ``repo``, its provenance pointing at ``commit_id`` (the script it reads constants from too)."""
    data = json.loads((REPO / "benchmarks" / "results" / "table1.json").read_text())
    data["provenance"]["commit"] = commit_id
    (repo / "benchmarks" / "results").mkdir(parents=True, exist_ok=True)
    (repo / "benchmarks" / "results" / "table1.json").write_text(json.dumps(data))
    shutil.copyfile(REPO / "benchmarks" / "table1.py", repo / "benchmarks" / "table1.py")


def table_rows(docs: str, name: str) -> list[str]:
    part = docs.split(f'<a id="{rt.anchor(name)}"></a>', 1)[1].split("<a id=", 1)[0]
    return [line for line in part.splitlines() if line.startswith("| ") and not line.startswith("| status")]


@needs_git
def test_every_row_of_a_stale_table_carries_the_mark(history):
    repo, c = history
    with_table1(repo, c["measured"])
    docs = rt.render_docs(rt.load_sections(repo))
    rows = table_rows(docs, "table1.json")
    assert len(rows) == 3 and all(row.startswith("| ⚠ stale |") for row in rows)
    assert all(line.startswith("| ⚠ stale |") for line in docs.splitlines() if "Table 1 (3×8 Ising)" in line)
    flow = next(r for r in json.loads((repo / "benchmarks" / "results" / "table1.json").read_text())["rows"] if r["model"] == "flow")
    assert f"{rt.num(flow['kl'])} ± {rt.num(flow['kl_std'])}" in docs  # the figure itself is there, beside its mark

    with_table1(repo, c["changed"])
    docs = rt.render_docs(rt.load_sections(repo))
    assert all(row.startswith("| ✅ current |") for row in table_rows(docs, "table1.json"))
    assert "⚠ stale |" not in docs


@needs_git
def test_check_fails_until_regenerated_and_again_after_a_code_commit(history, monkeypatch, capsys):
    repo, c = history
    with_table1(repo, c["changed"])
    monkeypatch.setattr(rt, "ROOT", repo)
    assert rt.main(["--check"]) == 1  # no docs/results.md yet
    assert "run `python benchmarks/results_tables.py`" in capsys.readouterr().out
    assert rt.main([]) == 0
    assert rt.main(["--check"]) == 0
    commit(repo, "models/flow.py", "v3\n", "the model changes again")  # table 1's figures are older than the code now
    assert rt.main(["--check"]) == 1
    assert rt.main([]) == 0 and "⚠ stale" in (repo / "docs" / "results.md").read_text()


def test_differing_names_the_files_to_regenerate(tmp_path):
    docs = tmp_path / "results.md"
    expected = {docs: "new\n"}
    assert rt.differing(expected) == [docs]  # missing
    docs.write_text("old\n")
    assert rt.differing(expected) == [docs]
    docs.write_text("new\n")
    assert rt.differing(expected) == []


def test_the_readme_block_is_replaced_between_its_markers_only():
    block = f"{rt.BEGIN}\nnew table\n{rt.END}"
    readme = f"# title\n\n{rt.BEGIN}\nold table\nmore\n{rt.END}\n\n## next\n"
    assert rt.with_block(readme, block) == f"# title\n\n{block}\n\n## next\n"
    assert rt.with_block("# no markers\n", block) is None
    assert rt.with_block(f"{rt.END}\n{rt.BEGIN}\n", block) is None  # end before begin: not a block
