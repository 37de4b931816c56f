"""The README and docs/ name modules, tests and scripts that exist: every path they give
(``stream_al/loop/pricing.py``, ``loop/admission.py``, ``tests/loop/test_rollback.py::test_x``,
or a bare ``pricing.py``) is found, so "which module to open for each concept" stays true."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "benchmarks/README.md"]
CODE_DIRS = ("stream_al", "tests", "benchmarks", "deploy")
OUTPUTS = ("runs", "out")
"""Folders the programs write into (git-ignored): a path in them is output, not a repository
file, and exists only once something wrote it."""
MENTION = re.compile(r"`([^`\s]+)`|\]\(([^)\s#]+)")
"""A path in backquotes, or a link's target."""


def bases(doc: Path) -> list[Path]:
    """Where a relative path in ``doc`` may start: the repository, the doc's folder, the
    package (``loop/pricing.py`` is ``stream_al/loop/pricing.py``)."""
    return [ROOT, doc.parent, ROOT / "stream_al"]


def mentions(doc: Path) -> list[tuple[str, str]]:
    """(path, test name or "") of every repository path ``doc`` gives: its first part is a
    folder of the repository, of the doc's folder or of the package; or it is a bare ``.py``
    name. Placeholders (``<app_id>``, ``$VAR``, ``~``), URLs and outputs (:data:`OUTPUTS`) are
    not paths."""
    out = []
    for m in MENTION.finditer(doc.read_text()):
        text = m.group(1) or m.group(2)
        path, _, test = text.partition("::")
        if re.search(r"[<>$~*:]|^/|^\.\.?/", path) or "://" in text:
            continue
        first = path.split("/")[0]
        if first in OUTPUTS:
            continue
        in_a_folder = "/" in path and any((b / first).is_dir() for b in bases(doc))
        if in_a_folder or ("/" not in path and path.endswith(".py")):
            out.append((path, test))
    return out


def found(doc: Path, path: str) -> Path | None:
    if "/" in path:
        return next((b / path for b in bases(doc) if (b / path).exists()), None)
    return next((p for d in CODE_DIRS for p in (ROOT / d).rglob(path)), None)


@pytest.mark.parametrize("doc", DOCS, ids=lambda d: str(d.relative_to(ROOT)))
def test_every_path_the_docs_give_exists(doc):
    given = mentions(doc)
    missing = [p for p, _ in given if found(doc, p) is None]
    assert not missing, f"{doc.relative_to(ROOT)} names paths that do not exist: {missing}"
    no_test = [f"{p}::{t}" for p, t in given if t and f"def {t}(" not in found(doc, p).read_text()]
    assert not no_test, f"{doc.relative_to(ROOT)} names tests that do not exist: {no_test}"


def test_the_readme_names_the_module_of_each_concept():
    """The pattern finds them (a changed pattern would make the test above vacuous)."""
    given = {p for p, _ in mentions(ROOT / "README.md")}
    for module in ("stream_al/loop/", "stream_al/select/stack.py", "stream_al/simulate/",
                   "stream_al/stream/", "loop/admission.py", "stream/conversion.py",
                   "tests/simulate/test_equivalence.py"):
        assert module in given


def test_outputs_are_not_repository_paths():
    """What the demo writes (``runs/demo/...``) exists only after a run: the docs may name it
    on a fresh clone, or after a run cut short, and this test still holds."""
    assert "runs/demo/kafka_learning_curve.png" in (ROOT / "README.md").read_text()
    assert not any(p.startswith("runs/") for p, _ in mentions(ROOT / "README.md"))
