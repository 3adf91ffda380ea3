"""The job state machine: the journal takes only its edges, and the diagram in ARCHITECTURE.md
is the table's."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from floradrop.jobs import EDGES, START_STATES, IllegalTransition, JobState, check, mermaid
from floradrop.journal import Journal

ROOT = Path(__file__).resolve().parent.parent


def add(journal: Journal, state: JobState = JobState.WAITING) -> int:
    return journal.add_job(
        job_key="k",
        folder="/in",
        rel_path="a.png",
        source_path="/in/a.png",
        size=1,
        mtime_ns=1,
        content_hash="h",
        rule_index=0,
        technique="cctv-cam",
        run_cost=0.05,
        state=state,
    ).id


def test_the_journal_refuses_an_edge_not_in_the_table(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    try:
        job_id = add(journal)
        with pytest.raises(IllegalTransition, match="waiting -> running"):
            journal.transition(job_id, JobState.WAITING, JobState.RUNNING)
        with pytest.raises(IllegalTransition, match="waiting -> done"):
            journal.transition(job_id, [JobState.UPLOADING, JobState.WAITING], JobState.DONE)
        assert journal.get(job_id).state is JobState.WAITING  # nothing written
        # the happy path, edge by edge
        for source, target in [
            (JobState.WAITING, JobState.UPLOADING),
            (JobState.UPLOADING, JobState.SUBMITTING),
            (JobState.SUBMITTING, JobState.RUNNING),
            (JobState.RUNNING, JobState.FETCHING),
            (JobState.FETCHING, JobState.FILING),
            (JobState.FILING, JobState.DONE),
        ]:
            assert journal.transition(job_id, source, target).state is target
        # a finished job never moves again; fields may still be written (the report's path)
        with pytest.raises(IllegalTransition):
            journal.transition(job_id, JobState.DONE, JobState.WAITING)
        assert journal.transition(job_id, JobState.DONE, note="x").note == "x"
    finally:
        journal.close()


def test_the_table_is_a_sane_machine() -> None:
    assert all(not source.terminal for source, _ in EDGES), "nothing leaves a terminal state"
    reached = set(START_STATES) | {target for _, target in EDGES}
    assert reached == set(JobState), "every state can be reached"
    for state in JobState:  # every live state can fail (the failed folder takes anything)
        if not state.terminal:
            assert (state, JobState.FAILED) in EDGES
    # no job is ever marked failed before FLORA is asked? No: but no edge goes back to a state
    # before a run exists once the run exists (a paid run is never re-created).
    paid = {JobState.RUNNING, JobState.FETCHING, JobState.FILING}
    early = {JobState.WAITING, JobState.HELD, JobState.UPLOADING, JobState.SUBMITTING}
    assert not [(s, t) for s, t in EDGES if s in paid and t in early]
    check([JobState.WAITING], None)  # fields only
    check([JobState.HELD], JobState.HELD)  # the same state: fields only


def test_the_diagram_in_architecture_md_is_the_table() -> None:
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    found = re.search(r"```mermaid\n(stateDiagram-v2\n.*?)```", text, re.S)
    assert found, "ARCHITECTURE.md has no state diagram"
    assert found.group(1) == mermaid(), (
        "the diagram in ARCHITECTURE.md is not the table in floradrop/jobs.py; "
        "regenerate it with: python3 scripts/state_diagram.py --write"
    )


def _states(node: ast.expr, constants: dict[str, list[JobState]]) -> list[JobState] | None:
    """The states a ``transition`` argument names, when it names them literally."""
    if (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "JobState"
    ):
        return [JobState[node.attr]]
    if isinstance(node, ast.Name) and node.id in constants:
        return constants[node.id]
    if isinstance(node, (ast.List, ast.Tuple)):
        found = [_states(item, constants) for item in node.elts]
        if all(f is not None for f in found):
            return [s for f in found if f for s in f]
    return None


def test_each_transition_in_the_code_is_taken_by_a_room_the_table_names() -> None:
    """Every ``journal.transition(job, FROM, TO)`` whose states are written out is an edge of
    the table, and its module is one of that edge's owners (so the table says who moves jobs)."""
    package = ROOT / "src" / "floradrop"
    checked, wrong = 0, []
    for path in sorted(package.rglob("*.py")):
        module = ".".join(path.relative_to(package).with_suffix("").parts)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        constants: dict[str, list[JobState]] = {}
        for node in tree.body:  # module constants such as money.CANCELLABLE
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target = node.targets[0]
                if isinstance(target, ast.Name):
                    found = _states(node.value, {})
                    if found:
                        constants[target.id] = found
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            if node.func.attr != "transition" or len(node.args) < 3:
                continue
            sources = _states(node.args[1], constants)
            targets = _states(node.args[2], constants)
            if sources is None or targets is None:
                continue
            for source in sources:
                if source is targets[0]:
                    continue  # fields only
                checked += 1
                owners = EDGES.get((source, targets[0]), ())
                if module not in owners:
                    wrong.append(f"{module}:{node.lineno} {source} -> {targets[0]} {owners}")
    assert checked >= 15, f"only {checked} transitions found: the scan is broken"
    assert not wrong, f"transitions not owned by their module in floradrop.jobs.EDGES: {wrong}"
