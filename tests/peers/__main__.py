"""`python -m tests.peers install [NAME ...]`: install every real peer (idempotent, cached by version).

Peers install in two lanes at once: `build` (the Go builds, which use every core, one after another) and
`fetch` (apt packages, Maven downloads, the Debian/Python base images: mostly waiting on the network and the
disk). A peer module says which with `INSTALL_LANE` (default `build`); within a lane, INSTALL_ORDER rules.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType

from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

import tests.peers as peers_pkg
from tests.peers.base import PeerError


def peer_modules() -> dict[str, ModuleType]:
    """Every module in tests.peers with an install() function, by name, in INSTALL_ORDER order."""
    found: dict[str, ModuleType] = {}
    for info in pkgutil.iter_modules(peers_pkg.__path__):
        if info.name.startswith("_") or info.name == "base":
            continue
        mod = importlib.import_module(f"tests.peers.{info.name}")
        if callable(getattr(mod, "install", None)):
            found[info.name] = mod
    return dict(sorted(found.items(), key=lambda kv: (getattr(kv[1], "INSTALL_ORDER", 50), kv[0])))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.peers")
    sub = parser.add_subparsers(dest="cmd", required=True)
    inst = sub.add_parser("install", help="install peers (all by default)")
    inst.add_argument("names", nargs="*")
    inst.add_argument("--with-bench", action="store_true",
                      help="also the peers only benchmarks use (BENCH_ONLY), e.g. kube-state-metrics")
    sub.add_parser("list", help="list peers and versions")
    args = parser.parse_args(argv)
    console = Console(stderr=True)
    mods = peer_modules()
    if args.cmd == "list":
        for name, mod in mods.items():
            console.print(f"{name:16} {getattr(mod, 'VERSION', '?')}")
        return 0
    # Benchmark-only peers (a cold kube-state-metrics build is ~6 min) stay out of `make test`.
    names = args.names or [n for n, m in mods.items() if args.with_bench or not getattr(m, "BENCH_ONLY", False)]
    unknown = [n for n in names if n not in mods]
    if unknown:
        console.print(f"[red]unknown peer(s): {', '.join(unknown)}[/]; known: {', '.join(mods)}")
        return 2
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console) as progress:
        tasks = {name: progress.add_task(f"{name} {getattr(mods[name], 'VERSION', '')} (waiting)", total=1)
                 for name in names}

        def install_lane(lane: list[str]) -> int:
            failed = 0
            for name in lane:
                failed += not install_one(mods[name], name, progress, tasks[name], console)
            return failed

        with ThreadPoolExecutor(max_workers=len(LANES)) as pool:
            failed = sum(pool.map(install_lane, lanes(names, mods).values()))
    return 1 if failed else 0


LANES = ("build", "fetch")


def lanes(names: Iterable[str], mods: Mapping[str, ModuleType]) -> dict[str, list[str]]:
    """The peers of each lane, in the given order; an unknown INSTALL_LANE is a programming error."""
    grouped: dict[str, list[str]] = {lane: [] for lane in LANES}
    for name in names:
        lane = getattr(mods[name], "INSTALL_LANE", "build")
        if lane not in grouped:
            raise ValueError(f"tests.peers.{name}: INSTALL_LANE {lane!r}, expected one of {', '.join(LANES)}")
        grouped[lane].append(name)
    return grouped


def install_one(mod: ModuleType, name: str, progress: Progress, task: TaskID, console: Console) -> bool:
    """Run one peer's install(), showing it on `task`; False (and the reason printed) when it failed."""
    version = getattr(mod, "VERSION", "")
    progress.update(task, description=f"{name} {version}")
    t0 = time.monotonic()
    try:
        mod.install()
    except PeerError as exc:
        progress.update(task, description=f"[red]{name} failed[/]")
        # The reason often quotes a command or build log with brackets, which rich would read as markup.
        console.print(f"[red]{name}:[/]", escape(str(exc)))
        return False
    progress.update(task, completed=1, description=f"[green]{name} {version} ready[/] ({time.monotonic() - t0:.0f}s)")
    return True


if __name__ == "__main__":
    sys.exit(main())
