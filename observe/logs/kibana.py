"""`observe kibana import`: post the saved objects in dashboards/kibana/*.ndjson to Kibana's `_import` API.

Auth comes from the environment, never from the command line: OBSERVE_KIBANA_API_KEY (or KIBANA_API_KEY), else
OBSERVE_KIBANA_USERNAME / OBSERVE_KIBANA_PASSWORD (or KIBANA_USERNAME / KIBANA_PASSWORD, as the chart's Job sets).
"""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import click
import orjson

from observe.es_connection import auth_header, tls_context


def saved_objects_dir() -> Path:
    """dashboards/kibana under the templates folder ($OBSERVE_TEMPLATES in the image, else this checkout)."""
    from observe.render.renderer import templates_root

    return templates_root() / "dashboards" / "kibana"


def load_objects(path: Path) -> list[dict[str, Any]]:
    """The saved objects of one NDJSON file, one per line; a bad line raises ValueError naming it."""
    objects: list[dict[str, Any]] = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"{path}:{number}: not JSON: {exc}") from None
        if not isinstance(obj, dict) or not {"type", "id", "attributes"} <= obj.keys():
            raise ValueError(f"{path}:{number}: expected an object with type, id and attributes")
        objects.append(obj)
    return objects


def _env(*names: str) -> str | None:
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


def auth_headers() -> dict[str, str]:
    """The Authorization header from the environment (API key first, then basic auth), or none."""
    user = _env("OBSERVE_KIBANA_USERNAME", "KIBANA_USERNAME")
    return auth_header(api_key=_env("OBSERVE_KIBANA_API_KEY", "KIBANA_API_KEY"), username=user,
                       password=_env("OBSERVE_KIBANA_PASSWORD", "KIBANA_PASSWORD") if user else None)


def import_url(base: str, space: str | None) -> str:
    """The _import endpoint, in a space when one is given; existing objects are overwritten (ids are stable)."""
    root = base.rstrip("/")
    if space and space != "default":
        root += f"/s/{space}"
    return root + "/api/saved_objects/_import?overwrite=true"


@dataclass
class ImportResult:
    """What Kibana said about one file."""

    file: str
    success: bool
    count: int
    errors: list[str]


async def import_files(
    url: str, files: list[Path], *, space: str | None = None, verify: bool = True, request_timeout: float = 60.0
) -> list[ImportResult]:
    """POST each NDJSON file as multipart `file` to the import API; one result per file."""
    headers = {"kbn-xsrf": "observe", **auth_headers()}
    ssl_ctx = tls_context(url, verify=verify)
    results: list[ImportResult] = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=request_timeout)) as session:
        for path in files:
            await asyncio.to_thread(load_objects, path)  # refuse to send a file Kibana would half-import
            form = aiohttp.FormData()
            data = await asyncio.to_thread(path.read_bytes)
            form.add_field("file", data, filename=path.name, content_type="application/ndjson")
            async with session.post(import_url(url, space), data=form, headers=headers, ssl=ssl_ctx) as resp:
                body = await resp.read()
                if resp.status != 200:
                    text = body.decode(errors="replace")[:500]
                    results.append(ImportResult(path.name, False, 0, [f"HTTP {resp.status}: {text}"]))
                    continue
                data = orjson.loads(body)
                errors = [
                    f"{e.get('type')}/{e.get('id')}: {(e.get('error') or {}).get('type', 'error')}"
                    for e in data.get("errors") or []
                ]
                results.append(ImportResult(path.name, bool(data.get("success")), int(data.get("successCount", 0)), errors))
    return results


@click.group("kibana")
def kibana_group() -> None:
    """Kibana saved objects: the logs data view and saved searches."""


@kibana_group.command("import")
@click.option("--url", envvar="KIBANA_URL", required=True, help="Kibana base URL, e.g. https://kibana:5601 (env KIBANA_URL).")
@click.option("--space", envvar="KIBANA_SPACE", default=None, help="Kibana space id (default: the default space).")
@click.option("--insecure", is_flag=True, help="Do not verify Kibana's TLS certificate (throwaway clusters only).")
@click.argument("files", nargs=-1, type=click.Path(path_type=Path, dir_okay=False, exists=True))
def import_command(url: str, space: str | None, insecure: bool, files: tuple[Path, ...]) -> None:
    """Import FILES (default: every dashboards/kibana/*.ndjson) through the saved-objects _import API."""
    paths = list(files) or sorted(saved_objects_dir().glob("*.ndjson"))
    if not paths:
        raise click.UsageError(f"no *.ndjson under {saved_objects_dir()}; pass the files to import")
    try:
        results = asyncio.run(import_files(url, paths, space=space, verify=not insecure))
    except (TimeoutError, ValueError, OSError, aiohttp.ClientError) as exc:
        click.echo(f"observe kibana import: {exc or type(exc).__name__}", err=True)
        sys.exit(1)
    failed = False
    for r in results:
        click.echo(f"{r.file}: {'ok' if r.success else 'FAILED'}, {r.count} objects imported")
        for err in r.errors:
            click.echo(f"  {err}", err=True)
        failed |= not r.success
    sys.exit(1 if failed else 0)
