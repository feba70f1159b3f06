"""What installs: one package, ``mqlsim``, with every layer, typed, and no top-level ``sim`` or
``policies`` (README "Layout")."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def packages_on_disk() -> set[str]:
    """The installed names of the folders that hold an ``__init__.py``."""
    names = {"mqlsim", "mqlsim.policies"}
    for init in (ROOT / "sim").rglob("__init__.py"):
        parts = init.parent.relative_to(ROOT / "sim").parts
        names.add(".".join(("mqlsim", *parts)))
    return {name.rstrip(".") for name in names}


def test_every_package_folder_is_listed_in_pyproject() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    setuptools = config["tool"]["setuptools"]
    assert set(setuptools["packages"]) == packages_on_disk()
    assert setuptools["package-dir"] == {"mqlsim": "sim", "mqlsim.policies": "policies"}


@pytest.mark.slow
def test_the_wheel_installs_only_mqlsim(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(tmp_path), "."],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("mqlsim-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names}
    assert {name for name in top if not name.startswith("mqlsim-")} == {"mqlsim"}
    for package in packages_on_disk():
        assert f"{package.replace('.', '/')}/__init__.py" in names
    assert "mqlsim/py.typed" in names
    assert any(name.endswith(".data/data/share/mqlsim/model.md") for name in names)


def test_plain_pytest_imports_the_test_helpers() -> None:
    """``pytest`` works as well as ``python -m pytest``: tests import ``tests.builders``."""
    completed = subprocess.run(
        [
            str(Path(sys.executable).parent / "pytest"),
            "--collect-only",
            "-q",
            "tests/test_nurture.py",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-2000:]
