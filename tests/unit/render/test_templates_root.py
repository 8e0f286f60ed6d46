"""The templates folder can live outside the package (the image copies dashboards/ and alerts/ elsewhere)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from observe.logs.kibana import saved_objects_dir
from observe.render.renderer import templates_root

REPO = Path(__file__).resolve().parents[3]


def test_checkout_is_the_default() -> None:
    assert templates_root() == REPO
    assert saved_objects_dir() == REPO / "dashboards" / "kibana"


def test_observe_templates_moves_render_and_kibana(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(REPO / "dashboards", tmp_path / "dashboards")
    shutil.copytree(REPO / "alerts", tmp_path / "alerts")
    monkeypatch.setenv("OBSERVE_TEMPLATES", str(tmp_path))
    assert templates_root() == tmp_path
    assert sorted(p.name for p in saved_objects_dir().glob("*.ndjson")) == sorted(
        p.name for p in (REPO / "dashboards" / "kibana").glob("*.ndjson"))
