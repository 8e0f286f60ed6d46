"""Build a Go program from the module proxy inside a throwaway wrapper module, cached by version.

`go install pkg@version` refuses modules whose go.mod has replace or exclude lines, so every
Go peer is built the same way: a tiny module `local/<name>` requires the upstream module,
carries whatever replaces it needs, and `go build` writes one static binary into the cache.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from tests.peers.base import PeerError, cache_dir, run

# The go.mod `replace` line, single or inside a block: `old [v] => new [v]`.
_REPLACE = re.compile(r"^\s*(?:replace\s+)?(\S+)(?:\s+(v\S+))?\s+=>\s+(\S+)(?:\s+(v\S+))?\s*$")


def go_binary() -> Path:
    """The `go` toolchain on PATH, or a PeerError saying what is missing."""
    found = shutil.which("go")
    if not found:
        raise PeerError("`go` is not on PATH; the Go peers are built from the Go module proxy and need Go >= 1.25")
    return Path(found)


def go_env() -> dict[str, str]:
    """Environment for every go command: static binaries, the local toolchain, default caches."""
    return {"CGO_ENABLED": "0", "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod -buildvcs=false"}


def download(module: str, version: str) -> dict[str, str]:
    """`go mod download -json module@version`: the paths of its go.mod and source in the module cache."""
    out = subprocess.run([str(go_binary()), "mod", "download", "-json", f"{module}@{version}"],
                         capture_output=True, text=True, env={**os.environ, **go_env()}, cwd=Path.home())
    try:
        info: dict[str, str] = json.loads(out.stdout)
    except json.JSONDecodeError:
        info = {}
    if out.returncode != 0 or "GoMod" not in info:
        detail = info.get("Error") or (out.stdout + out.stderr).strip()[-2000:]
        raise PeerError(f"the Go module proxy does not serve {module}@{version}: {detail}")
    return info


def requirements(gomod_text: str) -> dict[str, str]:
    """The `require` lines of a go.mod, as module -> version."""
    reqs: dict[str, str] = {}
    in_block = False
    for raw in gomod_text.splitlines():
        line = raw.split("//", 1)[0].strip()
        if line.startswith("require ("):
            in_block = True
            continue
        if in_block and line == ")":
            in_block = False
            continue
        if line.startswith("require "):
            line = line[len("require "):].strip()
        elif not in_block:
            continue
        parts = line.split()
        if len(parts) == 2:
            reqs[parts[0]] = parts[1]
    return reqs


def module_replaces(gomod_text: str) -> dict[str, str]:
    """The replaces of a go.mod that point at other modules (local directory replaces are left out).

    The wrapper can only copy these: a `=> ../api` line names a folder of the upstream repository
    that the module zip does not contain.
    """
    found: dict[str, str] = {}
    in_block = False
    for raw in gomod_text.splitlines():
        line = raw.split("//", 1)[0].strip()
        if line.startswith("replace ("):
            in_block = True
            continue
        if in_block and line == ")":
            in_block = False
            continue
        if not (in_block or line.startswith("replace ")):
            continue
        m = _REPLACE.match(line)
        if not m:
            continue
        old, old_v, new, new_v = m.groups()
        if new.startswith((".", "/")) or not new_v:
            continue
        found[f"{old}@{old_v}" if old_v else old] = f"{new}@{new_v}"
    return found


def build(name: str, version: str, pkg: str, *, module: str, replaces: Mapping[str, str] | None = None,
          copy_replaces: bool = True, ldflags: Sequence[str] = (), binary: str | None = None,
          tags: Sequence[str] = (), also: Sequence[str] = ()) -> Path:
    """Build `pkg` from `module@version` into ~/.cache/observe-peers/<name>-<version>/bin/<binary>.

    `replaces` maps `old[@v]` to `new@v` and wins over the upstream module's own non-local
    replaces, which are copied when `copy_replaces` is true. `also` names more packages of the
    same module built in the same `go build` (they share its compile work: the Kubernetes node
    binaries cost a fraction of their separate builds); each lands in bin/ under its last path
    element. Idempotent: binaries built from the same inputs are returned at once.
    """
    binary = binary or pkg.rstrip("/").rsplit("/", 1)[-1]
    root = cache_dir(name, version)
    out = root / "bin" / binary
    recipe: dict[str, object] = {"module": module, "version": version, "pkg": pkg, "replaces": dict(replaces or {}),
                                 "copy_replaces": copy_replaces, "ldflags": list(ldflags), "tags": list(tags)}
    if also:
        recipe["also"] = list(also)
    stamp = root / "bin" / f".{binary}.recipe"
    digest = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()
    if out.is_file() and stamp.is_file() and stamp.read_text() == digest:
        return out
    # Two test runs may ask for the same peer at once; the second waits and then finds it built.
    with (root / ".build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if out.is_file() and stamp.is_file() and stamp.read_text() == digest:
            return out
        _build(root, out, stamp, digest, name, version, pkg, module, replaces, copy_replaces, ldflags, tags, also)
    return out


def _build(root: Path, out: Path, stamp: Path, digest: str, name: str, version: str, pkg: str, module: str,
           replaces: Mapping[str, str] | None, copy_replaces: bool, ldflags: Sequence[str],
           tags: Sequence[str], also: Sequence[str] = ()) -> None:
    binary = out.name
    go = go_binary()
    info = download(module, version)
    all_replaces: dict[str, str] = {}
    if copy_replaces:
        all_replaces.update(module_replaces(Path(info["GoMod"]).read_text()))
    all_replaces.update(replaces or {})

    wrapper = root / "wrapper"
    shutil.rmtree(wrapper, ignore_errors=True)
    wrapper.mkdir(parents=True)
    log = root / "build.log"
    log.write_text(f"# build of {pkg}@{version} started {time.strftime('%Y-%m-%dT%H:%M:%S')}\n")
    env = go_env()
    run([go, "mod", "init", f"local/{name}"], cwd=wrapper, env=env, log=log)
    if all_replaces:
        run([go, "mod", "edit", *(f"-replace={old}={new}" for old, new in sorted(all_replaces.items()))],
            cwd=wrapper, env=env, log=log)
    for p in (pkg, *also):
        run([go, "get", "-tool", f"{p}@{version}"], cwd=wrapper, env=env, log=log)

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{binary}.tmp")
    argv: list[str | Path] = [go, "build", "-trimpath", "-o", tmp, "-ldflags", " ".join(["-s", "-w", *ldflags])]
    if tags:
        argv += ["-tags", ",".join(tags)]
    t0 = time.monotonic()
    if also:
        # Several packages in one invocation: `-o DIR/` names each binary after its package.
        staging = out.parent / ".staging"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        argv[argv.index(tmp)] = f"{staging}/"
        run([*argv, pkg, *also], cwd=wrapper, env=env, log=log)
        for built in staging.iterdir():
            target = out if built.name == pkg.rstrip("/").rsplit("/", 1)[-1] else out.parent / built.name
            built.replace(target)
        staging.rmdir()
    else:
        run([*argv, pkg], cwd=wrapper, env=env, log=log)
    with log.open("a") as f:
        f.write(f"# go build took {time.monotonic() - t0:.0f}s\n")
    if not also:
        tmp.replace(out)
    stamp.write_text(digest)
