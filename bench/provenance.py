"""What a bench result was measured with: git commit, Python, dependency versions against the lock, machine load.

Every result file carries this under `provenance`, so a figure can be reproduced (same commit, same locked
versions) or explained (the load average says how busy the shared machine was while it ran).
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import threading
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
RUNTIME_LOCK = REPO / "requirements.txt"
DEV_LOCK = REPO / "requirements-dev.txt"


def lock_entries(path: Path) -> list[Requirement]:
    """The `name==version ; marker` lines of a pip-compile style lock file (comments and `via` notes skipped)."""
    out = []
    for line in path.read_text().splitlines():
        text = line.split(" #", 1)[0].strip()
        if text and not text.startswith(("#", "-")):
            out.append(Requirement(text))
    return out


def locked_pins(path: Path, environment: dict[str, str] | None = None) -> dict[str, str]:
    """Canonical name -> pinned version, for the entries whose marker holds in `environment` (default: this one)."""
    env: dict[str, str] = {**default_environment(), **(environment or {})}  # type: ignore[dict-item]
    pins: dict[str, str] = {}
    for req in lock_entries(path):
        if req.marker is not None and not req.marker.evaluate(env):
            continue
        (spec,) = req.specifier
        pins[canonicalize_name(req.name)] = spec.version
    return pins


def installed_versions(names: list[str]) -> dict[str, str | None]:
    """The installed version of each distribution, None where it is missing."""
    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def dependency_report(lock: Path = DEV_LOCK) -> dict[str, Any]:
    """Installed versions of every locked package, and where they differ from the lock."""
    pins = locked_pins(lock)
    installed = installed_versions(sorted(pins))
    differ = {name: {"locked": pins[name], "installed": have} for name, have in installed.items() if have != pins[name]}
    return {"lock": lock.name, "matches_lock": not differ, "differences": differ, "versions": installed}


def git_commit(repo: Path = REPO) -> dict[str, Any]:
    """HEAD's commit, and whether tracked files other than bench results differ from it."""
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=False)
        return done.stdout.rstrip() if done.returncode == 0 else ""  # rstrip: porcelain lines start with a space

    changed = [line[3:] for line in git("status", "--porcelain", "--untracked-files=no").splitlines()
               if not line[3:].startswith("bench/results/")]
    return {"commit": git("rev-parse", "HEAD") or "unknown", "uncommitted_changes": changed}


class LoadSampler:
    """Samples the 1-minute load average every `interval` seconds in a daemon thread while a bench runs."""

    def __init__(self, interval: float = 5.0) -> None:
        self.interval = interval
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="load-sampler", daemon=True)
        self._started = 0.0

    def __enter__(self) -> LoadSampler:
        self._started = time.monotonic()
        self.at_start = os.getloadavg()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.at_end = os.getloadavg()

    def _run(self) -> None:
        while True:
            self.samples.append(os.getloadavg()[0])
            if self._stop.wait(self.interval):
                return

    def summary(self) -> dict[str, Any]:
        """Load average during the run: 1-minute samples (min, median, max) and the 1/5/15 triples at both ends."""
        samples = sorted([*self.samples, self.at_end[0]])
        return {"cpus": len(os.sched_getaffinity(0)),
                "one_minute_min": round(samples[0], 2), "one_minute_median": round(samples[len(samples) // 2], 2),
                "one_minute_max": round(samples[-1], 2),
                "at_start": [round(x, 2) for x in self.at_start], "at_end": [round(x, 2) for x in self.at_end]}


def provenance(load: LoadSampler) -> dict[str, Any]:
    """Everything needed to reproduce or explain one bench result."""
    return {
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **git_commit(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "python_executable": sys.executable,
        "machine": platform.machine(),
        "load_average": load.summary(),
        "dependencies": dependency_report(),
    }
