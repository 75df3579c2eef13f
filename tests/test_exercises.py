"""Every notebook has an exercise where the learner writes code, checked by a self-check that
can fail: the check lives in ``helpers.selfcheck``, a test feeds it wrong answers, and the
notebook's own solution passes it (its stored output says so)."""
from __future__ import annotations

import ast
import inspect
import json
import re
from pathlib import Path

import pytest
from helpers import selfcheck

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
CHECKS = tuple(selfcheck.__all__)
CALL = re.compile(r"\bselfcheck\.(\w+)\(")


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def _source(cell: dict) -> str:
    return "".join(cell["source"])


def _text_outputs(cell: dict) -> str:
    return "".join("".join(out.get("text", "")) for out in cell.get("outputs", []))


def _sections(path: Path) -> tuple[list[dict], list[dict]]:
    """The code cells of the Exercises section and of the Solutions section."""
    cells = _cells(path)
    heads = [i for i, c in enumerate(cells) if c["cell_type"] == "markdown"]
    start = next(i for i in heads if _source(cells[i]).strip().startswith("## Exercises"))
    solutions = next(i for i in heads if _source(cells[i]).strip().startswith("## Solutions"))
    code = lambda lo, hi: [c for c in cells[lo:hi] if c["cell_type"] == "code"]  # noqa: E731
    return code(start, solutions), code(solutions, len(cells))


def _test_sources() -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted((ROOT / "tests").glob("test_selfcheck*.py"))}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_notebook_has_a_self_checked_exercise(path):
    exercises, solutions = _sections(path)
    called = {name for c in exercises for name in CALL.findall(_source(c))}
    assert called, f"{path.name}: no exercise calls a check from helpers.selfcheck"
    unknown = called - set(CHECKS)
    assert not unknown, f"{path.name} calls selfcheck.{sorted(unknown)}, which helpers.selfcheck does not export"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_solution_passes_its_own_check(path):
    """The Solutions section runs each self-check used in the exercises on the worked answer,
    and the stored output (which nbval re-checks) says ``correct`` for it."""
    exercises, solutions = _sections(path)
    called = {name for c in exercises for name in CALL.findall(_source(c))}
    for name in called:
        cells = [c for c in solutions if f"selfcheck.{name}(" in _source(c)]
        assert cells, f"{path.name}: the solutions never run selfcheck.{name} on the worked answer"
        assert any("correct" in _text_outputs(c) and "not yet" not in _text_outputs(c) for c in cells), \
            f"{path.name}: the stored solution output does not show selfcheck.{name} saying 'correct'"


@pytest.mark.parametrize("name", CHECKS)
def test_every_check_is_fed_a_wrong_answer_by_a_test(name):
    """Textual, on purpose: some test file calls this check inside ``pytest.raises(AssertionError)``."""
    for text in _test_sources().values():
        tree = ast.parse(text)
        for node in ast.walk(tree):
            if isinstance(node, ast.With) and any("raises" in ast.unparse(item.context_expr) and
                                                  "AssertionError" in ast.unparse(item.context_expr)
                                                  for item in node.items):
                if f"selfcheck.{name}(" in ast.unparse(node) or re.search(rf"\b{name}\(", ast.unparse(node)):
                    return
    pytest.fail(f"no test feeds selfcheck.{name} a wrong answer inside pytest.raises(AssertionError)")


@pytest.mark.parametrize("name", CHECKS)
def test_every_check_says_which_notebook_uses_it(name):
    doc = inspect.getdoc(getattr(selfcheck, name)) or ""
    assert re.search(r"[Nn]otebooks? \d\d", doc), f"selfcheck.{name}'s docstring must name its notebook"
    used = [p.name for p in NOTEBOOKS if any(f"selfcheck.{name}(" in _source(c) for c in _cells(p))]
    assert used, f"selfcheck.{name} is used by no notebook"
    for number in re.findall(r"[Nn]otebooks? (\d\d)", doc)[:1]:
        assert any(u.startswith(number) for u in used), f"selfcheck.{name} says notebook {number}, used in {used}"


def test_a_check_that_cannot_fail_is_caught():
    """The wrong-answer test itself can fail: a check missing from every test file is reported."""
    sources = _test_sources()
    assert not any("selfcheck.no_such_check(" in s for s in sources.values())
    with pytest.raises(pytest.fail.Exception):
        test_every_check_is_fed_a_wrong_answer_by_a_test("no_such_check")


@pytest.mark.parametrize("name", CHECKS)
def test_every_check_rejects_an_answer_that_is_not_a_function(name):
    """A learner who passes a number, or forgets to fill in the stub, is told so, not crashed."""
    check = getattr(selfcheck, name)
    for not_a_function in (None, 3, "answer"):
        with pytest.raises(AssertionError, match="function"):
            check(not_a_function)
