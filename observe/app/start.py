"""The `observe` console script: the cyclic garbage collector stays off while start-up imports observe's modules.

Start-up (click, pydantic's config models, aiohttp, the part's own modules) allocates tens of thousands of objects
that live as long as the process and frees almost none, so the collections CPython runs meanwhile find nothing to
free: at the cluster exporter's start they cost 40-50 ms (a full collection of 28 ms among them), 3-4 % of its
10,000-pod sync. `observe ship` and `observe export` turn the collector back on in tune_collector(), once their
start-up objects are frozen; every other command gets it back before it runs (observe/app/cli.py).
"""

from __future__ import annotations

import gc


def main() -> None:
    """Console-script entry point."""
    gc.disable()
    from observe.app.cli import main as cli_main

    cli_main()
