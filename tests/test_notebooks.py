"""Every notebook follows the course's conventions (opening, ending, executed in order, badges)."""
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
REPO_BADGE = re.compile(
    r"\(https://colab\.research\.google\.com/github/[\w.-]+/[\w.-]+/blob/[\w.-]+/notebooks/(?P<path>[^)]+)\)"
)


def source(cell) -> str:
    return "".join(cell["source"])


def test_there_are_notebooks_with_two_digit_prefixes():
    assert len(NOTEBOOKS) >= 2
    for nb in NOTEBOOKS:
        assert re.fullmatch(r"\d\d_[a-z0-9_]+\.ipynb", nb.name), nb.name


@pytest.fixture(params=NOTEBOOKS, ids=lambda p: p.name)
def notebook(request):
    return request.param, json.loads(request.param.read_text())


def test_opening(notebook):
    path, nb = notebook
    cells = nb["cells"]
    first = source(cells[0])
    badge = REPO_BADGE.search(first)
    assert badge and badge.group("path") == path.name, "the Colab badge must point to this notebook's own path"
    assert re.search(rf"^# {path.name[:2]} · \S", first, re.M), "title must read '# NN · Title'"
    learn = first.split("You will learn", 1)
    assert len(learn) == 2, "no 'You will learn' list"
    bullets = re.findall(r"^- ", learn[1], re.M)
    assert 3 <= len(bullets) <= 5, f"{len(bullets)} 'you will learn' bullets; want 3-5"
    install = source(cells[1])
    assert cells[1]["cell_type"] == "code"
    assert 'if "google.colab" in sys.modules:' in install and "%pip install" in install
    assert re.search(r"^\s+%pip install", install, re.M), "the install must be inside the Colab guard"
    setup = source(cells[2])
    assert "env.setup(" in setup, "the setup cell seeds and sets threads through helpers.env.setup"


def test_ending(notebook):
    _, nb = notebook
    headings = [source(c).strip().splitlines()[0] for c in nb["cells"] if c["cell_type"] == "markdown" and source(c).strip()]
    for title in ("## Summary", "## Exercises", "## Solutions"):
        assert title in headings, f"missing {title}"
    assert headings.index("## Summary") < headings.index("## Exercises") < headings.index("## Solutions")
    start = next(i for i, c in enumerate(nb["cells"]) if source(c).strip().startswith("## Exercises"))
    after_exercises = nb["cells"][start:]
    exercise_code = [source(c) for c in after_exercises if c["cell_type"] == "code"]
    assert exercise_code and all("assert" in code or "selfcheck." in code for code in exercise_code), \
        "every exercise and solution cell self-checks (an assert, or a check from helpers.selfcheck)"


def test_executed_in_order_without_errors(notebook):
    _, nb = notebook
    code = [c for c in nb["cells"] if c["cell_type"] == "code" and source(c).strip()]
    counts = [c["execution_count"] for c in code]
    assert counts == list(range(1, len(code) + 1)), "run `make notebooks`: counts must be 1..n"
    for cell in code:
        for out in cell["outputs"]:
            assert out["output_type"] != "error", f"stored error in cell:\n{source(cell)[:200]}"
            assert "image/svg+xml" not in out.get("data", {}), "figures must be PNG"


def test_no_trailing_semicolons_and_widgets_are_tagged(notebook):
    _, nb = notebook
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    for i, cell in enumerate(code):
        text = source(cell).rstrip()
        assert not text.endswith(";"), "use plt.show(), not a trailing ';'"
        if re.search(r"\binteract(ive)?\(|_widget\(", text):
            tags = cell.get("metadata", {}).get("tags", [])
            assert "nbval-ignore-output" in tags, "widget cells are tagged nbval-ignore-output"
            before = source(code[i - 1])
            assert "plt.show()" in before, "a plain call drawing the same figure sits in the cell before each widget"


def release_tag() -> str:
    version = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M).group(1)
    return f"v{version}"


def test_colab_badge_and_install_name_the_release_tag(notebook):
    """On Colab a notebook and the helpers it installs come from one fixed tag, never a moving branch."""
    path, nb = notebook
    tag = release_tag()
    first, install = source(nb["cells"][0]), source(nb["cells"][1])
    assert f"/blob/{tag}/notebooks/{path.name})" in first, f"the badge must open {path.name} at {tag}"
    refs = re.findall(r"git\+https://github\.com/[\w.-]+/[\w.-]+@([\w.-]+)", install)
    assert refs == [tag], f"the install cell must pin the helpers to {tag}, found {refs}"


def test_readme_badges_name_the_release_tag():
    readme = (ROOT / "README.md").read_text()
    badges = re.findall(r"colab\.research\.google\.com/github/[\w.-]+/[\w.-]+/blob/([\w.-]+)/notebooks/", readme)
    assert badges and set(badges) == {release_tag()}
