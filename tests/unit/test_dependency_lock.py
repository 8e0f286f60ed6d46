"""The lock files cover every dependency pyproject.toml declares, at a version its range allows (pure file logic).

requirements-dev.txt (runtime + dev) is what `make dev`/`make test` install; requirements.txt (runtime) is what the
image installs. A dependency added to pyproject.toml without `make lock` fails here instead of going in unpinned.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from bench.provenance import lock_entries

REPO = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
RUNTIME = [Requirement(r) for r in PROJECT["dependencies"]]
DEV = [Requirement(r) for r in PROJECT["optional-dependencies"]["dev"]]


def pins(lock: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for req in lock_entries(REPO / lock):
        (spec,) = req.specifier
        assert spec.operator == "==", f"{lock}: {req} is not pinned"
        out.setdefault(canonicalize_name(req.name), []).append(spec.version)
    return out


@pytest.mark.parametrize(("lock", "declared"), [("requirements.txt", RUNTIME), ("requirements-dev.txt", RUNTIME + DEV)])
def test_the_lock_pins_every_declared_dependency_within_its_range(lock: str, declared: list[Requirement]) -> None:
    locked = pins(lock)
    for req in declared:
        versions = locked.get(canonicalize_name(req.name))
        assert versions, f"{lock} lacks {req.name} (declared in pyproject.toml): run `make lock`"
        assert any(req.specifier.contains(v, prereleases=True) for v in versions), \
            f"{lock} pins {req.name} {versions}, outside pyproject.toml's {req.specifier}: run `make lock`"


def test_the_image_installs_the_same_versions_that_were_tested() -> None:
    runtime, dev = pins("requirements.txt"), pins("requirements-dev.txt")
    assert {name: v for name, v in runtime.items() if dev.get(name) != v} == {}
    assert "pytest" not in runtime and "uv" not in runtime, "dev tools leak into the image's lock"


def test_the_locks_say_how_to_update_them() -> None:
    for lock in ("requirements.txt", "requirements-dev.txt"):
        assert "#    make lock\n" in (REPO / lock).read_text(), f"{lock} was not written by `make lock`"


def test_the_makefile_installs_from_the_lock() -> None:
    makefile = (REPO / "Makefile").read_text()
    assert "pip install -q -r requirements-dev.txt" in makefile
    assert "pip install -q --no-deps -e ." in makefile
    assert "$(STAMP): pyproject.toml requirements-dev.txt" in makefile
