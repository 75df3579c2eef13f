"""Packaging and the course's own conventions: pyproject vs environment.yml, README, CI, data manifest."""
import re
from pathlib import Path

import pytest
import yaml

# The course runs on Python 3.9+ (requires-python); these checks read pyproject.toml with the
# standard library's TOML parser, which Python has from 3.11 on, and are skipped before that.
tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")

ROOT = Path(__file__).resolve().parents[1]
CONDA_NAMES = {"torch": "pytorch-cpu"}  # pip name -> conda-forge name where they differ


def split_requirement(req: str) -> tuple[str, str]:
    match = re.fullmatch(r"([A-Za-z0-9_.\-]+)\s*(.*)", req.strip())
    assert match, f"cannot parse requirement {req!r}"
    return match.group(1).lower(), match.group(2).replace(" ", "")


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {}
    for req in project["dependencies"] + project["optional-dependencies"]["dev"]:
        name, spec = split_requirement(req)
        wanted[CONDA_NAMES.get(name, name)] = spec
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["channels"] == ["conda-forge"]
    conda = {}
    pip_section = None
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            pip_section = dep["pip"]
            continue
        name, spec = split_requirement(dep)
        conda[name] = spec
    conda.pop("python")
    conda.pop("pip")
    assert conda == wanted, "environment.yml and pyproject.toml list different packages or ranges"
    assert pip_section == ["-e ."]


def test_dependencies_are_ranges_not_pins():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for req in project["dependencies"] + project["optional-dependencies"]["dev"]:
        assert "==" not in req, f"{req}: declare a range, not a pin (Colab keeps its own torch)"
    assert any(r.startswith("torch>=") for r in project["dependencies"])
    assert "ipywidgets>=7.6" in project["dependencies"]


def test_readme_gives_the_two_commands_and_ci_calls_the_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "make lab" in readme and "make test" in readme
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, re.M)
    makefile = (ROOT / "Makefile").read_text()
    for target in ("lab", "test", "notebooks", "course", "checkpoints", "bench"):
        assert re.search(rf"^{target}:", makefile, re.M), f"Makefile lacks `make {target}`"
    assert "--ip=127.0.0.1" in makefile, "JupyterLab must listen on 127.0.0.1 only"


def test_readme_lists_every_notebook_with_its_badge():
    readme = (ROOT / "README.md").read_text()
    for nb in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        assert f"notebooks/{nb.name})" in readme, f"README's table lacks a Colab badge for {nb.name}"


def test_data_readme_lists_every_manifest_entry():
    manifest = (ROOT / "data" / "SHA256SUMS").read_text().split("\n")
    readme = (ROOT / "data" / "README.md").read_text()
    entries = [line.split() for line in manifest if line.strip()]
    assert len(entries) >= 5
    for digest, name in entries:
        assert (ROOT / "data" / name).is_file(), f"{name} is in SHA256SUMS but missing"
        assert digest in readme and name in readme, f"data/README.md does not list {name} with its sha256"


def test_package_data_covers_every_bundled_file():
    """A wheel (Colab's install) must carry every file the manifest lists."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert config["package-dir"]["helpers.bundled"] == "data"
    patterns = config["package-data"]["helpers.bundled"]
    for line in (ROOT / "data" / "SHA256SUMS").read_text().splitlines():
        name = line.split()[1]
        assert any(Path(name).match(p) for p in patterns), f"{name} would be left out of the wheel"


def test_every_helpers_subpackage_is_in_the_wheel():
    """pyproject lists its packages by name, so a new subpackage (``helpers.attacks``) must be listed too."""
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    for init in sorted((ROOT / "helpers").rglob("__init__.py")):
        name = ".".join(init.parent.relative_to(ROOT).parts)
        assert name in packages, f"{name} is not in pyproject.toml's [tool.setuptools] packages: a wheel would lack it"
