"""Every file a service needs at run time is declared as package data, so the images built
from the Dockerfile (plain installs, not editable ones) carry their migrations, templates and
static files."""

import fnmatch
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECTS = sorted(
    path.parent
    for path in ROOT.glob("*/**/pyproject.toml")
    if "src" in {p.name for p in path.parent.iterdir()}
)


@pytest.mark.parametrize("project", PROJECTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_non_python_file_is_package_data(project: Path) -> None:
    config = tomllib.loads((project / "pyproject.toml").read_text())
    declared = config.get("tool", {}).get("setuptools", {}).get("package-data", {})
    source = project / "src"
    for path in (source / "latchkey").rglob("*"):
        if path.is_dir() or path.suffix in (".py", ".pyc") or "__pycache__" in path.parts:
            continue
        relative = path.relative_to(source)
        package = ".".join(relative.parts[:-1])
        owners = [name for name in declared if package == name or package.startswith(name + ".")]
        matched = any(
            fnmatch.fnmatch(str(path.relative_to(source / owner.replace(".", "/"))), pattern)
            for owner in owners
            for pattern in declared[owner]
        )
        assert matched, f"{relative} is not declared as package data in {project.name}"
