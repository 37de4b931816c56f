"""Each component receives only its part of ``Settings`` (``OnlineLearner(dim,
settings.learner)``); only the composition roots below take the whole object, and each says in
its docstring why. A new function or method with a ``Settings`` parameter fails here until it
takes its part instead, or is added to the roots with a reason."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import stream_al

ROOTS = {
    # the core: the loop and the selection stack it owns
    "stream_al.loop.coordinator.Coordinator.__init__",
    "stream_al.select.stack.build_stage",
    # the Kafka worker: its entry point, the app, the shell that builds a coordinator per
    # assignment of the control partition
    "stream_al.stream.worker.run_worker",
    "stream_al.stream.app.build_app",
    "stream_al.stream.coordinating.CoordinatorShell.__init__",
    # the simulator: its one assembly of coordinator and simulated shell, and its drivers
    "stream_al.simulate.replay.Replay.of",
    "stream_al.simulate.simulator.Simulation.__init__",
    "stream_al.simulate.drift_scenario.DriftScenario.__init__",
    "stream_al.simulate.pacing_scenario.PacingRun.run_with",
    # the strategies compared on one dataset (`stream-al simulate` and the demo)
    "stream_al.simulate.comparison.compare",
}


def takes_settings(annotation: ast.expr | None) -> bool:
    if annotation is None:
        return False
    text = ast.unparse(annotation).strip("'\"").replace(" ", "")
    return text in {"Settings", "Settings|None", "Optional[Settings]"}


def functions_taking_settings() -> dict[str, tuple[str, list[str]]]:
    """Every function and method in ``stream_al`` with a parameter annotated ``Settings`` (the
    whole object, not a part such as ``LearnerSettings``): qualified name -> (module, path)."""
    package = Path(stream_al.__file__).parent
    found = {}
    for path in sorted(package.rglob("*.py")):
        module = ".".join(path.relative_to(package.parent).with_suffix("").parts)

        def visit(node: ast.AST, prefix: list[str], module: str = module) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.ClassDef):
                    visit(child, [*prefix, child.name])
                elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                    a = child.args
                    if any(takes_settings(x.annotation)
                           for x in [*a.posonlyargs, *a.args, *a.kwonlyargs]):
                        found[".".join([module, *prefix, child.name])] = (
                            module, [*prefix, child.name])
                    visit(child, [*prefix, child.name])

        visit(ast.parse(path.read_text()), [])
    return found


def test_only_the_composition_roots_take_the_whole_settings():
    found = set(functions_taking_settings())
    extra = found - ROOTS
    assert not extra, (f"pass these only their part of Settings (e.g. settings.learner), or "
                       f"add them to ROOTS with a docstring that says why: {sorted(extra)}")
    assert found == ROOTS, f"no longer roots, remove from ROOTS: {sorted(ROOTS - found)}"


def test_every_root_says_why_it_takes_the_whole_settings():
    for name, (module, path) in sorted(functions_taking_settings().items()):
        obj = importlib.import_module(module)
        for attr in path:
            obj = getattr(obj, attr)
        if path[-1] == "__init__":  # a class: its docstring speaks for its constructor
            obj = getattr(importlib.import_module(module), path[-2])
        doc = inspect.getdoc(obj) or ""
        assert "whole" in doc and "Settings" in doc, \
            f"{name}: say in its docstring why it takes the whole Settings"


def test_no_component_reaches_into_a_roots_settings():
    """A component handed a root (a coordinator) reads what it needs from the root's parts,
    not from ``coordinator.settings``: ``Replay`` used to take the admission caps' settings
    out of it."""
    package = Path(stream_al.__file__).parent
    reaching = []
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Attribute) and node.attr == "settings"):
                continue
            owner = node.value
            name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
            if name in {"c", "coordinator"}:
                reaching.append(f"{path.relative_to(package.parent)}:{node.lineno}")
    assert not reaching, f"pass these their part instead: {reaching}"
