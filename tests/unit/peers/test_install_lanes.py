"""`python -m tests.peers install`: the Go builds and the downloads run in two lanes at once."""

from __future__ import annotations

import threading
from types import ModuleType

import pytest

import tests.peers.__main__ as installer
from tests.peers.base import PeerError


def fake(name: str, lane: str | None, install: object) -> ModuleType:
    mod = ModuleType(f"tests.peers.{name}")
    mod.install = install  # type: ignore[attr-defined]
    mod.VERSION = "v0"  # type: ignore[attr-defined]
    if lane:
        mod.INSTALL_LANE = lane  # type: ignore[attr-defined]
    return mod


def test_the_real_peers_split_into_go_builds_and_downloads() -> None:
    grouped = installer.lanes(list(installer.peer_modules()), installer.peer_modules())
    assert grouped["build"] == ["toxiproxy", "kube", "helm", "node", "jaeger", "kube_state_metrics"]
    assert grouped["fetch"] == ["debian", "alertmanager", "prometheus", "elasticsearch", "opensearch", "images"]


def test_an_unknown_lane_is_refused() -> None:
    with pytest.raises(ValueError, match="INSTALL_LANE 'fast'"):
        installer.lanes(["x"], {"x": fake("x", "fast", lambda: None)})


def test_lanes_run_at_once_each_in_order_and_a_failure_is_reported(monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    both_running = threading.Barrier(2, timeout=10)  # broken (and the test failed) if the lanes ran one by one
    order: list[str] = []

    def step(name: str, meet: bool = False, fail: bool = False) -> object:
        def install() -> None:
            if meet:
                both_running.wait()
            order.append(name)
            if fail:
                raise PeerError(f"{name} is not served")
        return install

    mods = {"gobuild1": fake("gobuild1", None, step("gobuild1", meet=True)),
            "apt": fake("apt", "fetch", step("apt", meet=True)),
            "gobuild2": fake("gobuild2", "build", step("gobuild2", fail=True)),
            "maven": fake("maven", "fetch", step("maven"))}
    monkeypatch.setattr(installer, "peer_modules", lambda: mods)
    assert installer.main(["install"]) == 1
    assert order.index("gobuild1") < order.index("gobuild2") and order.index("apt") < order.index("maven")
    assert "gobuild2: gobuild2 is not served" in capsys.readouterr().err


def test_a_failure_whose_reason_holds_brackets_is_printed_not_raised() -> None:
    """A failed image build quotes its RUN command, `[/bin/sh -c ...]`: printed as rich markup, that raised
    MarkupError and hid the reason behind a traceback (2026-12-05)."""
    import io

    from rich.console import Console
    from rich.progress import Progress

    def install() -> None:
        raise PeerError("build failed: error running [/bin/sh -c apt-get update] in [stage 1]")

    out = io.StringIO()
    console = Console(file=out, width=200)
    with Progress(console=console) as progress:
        task = progress.add_task("x", total=1)
        assert installer.install_one(fake("images", None, install), "images", progress, task, console) is False
    assert "error running [/bin/sh -c apt-get update] in [stage 1]" in out.getvalue()
