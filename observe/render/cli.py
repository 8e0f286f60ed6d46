"""CLI command `observe render`: dashboards, rules and Alertmanager config from templates, deterministically."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from observe.config import ConfigError

if TYPE_CHECKING:
    from observe.render.values import Team


@click.command("render")
@click.option("--values", "values_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Values YAML merged over the built-in defaults (observe/render/values.yaml).")
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="Output folder, e.g. helm/observe/files.")
@click.option("--templates", "templates", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Folder holding dashboards/ and alerts/ (default: this checkout).")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 when --out differs from a fresh render.")
@click.option("--from-cluster", is_flag=True,
              help="Also route each Namespace annotated observe.io/alert-email to its addresses (values teams win). "
                   "Credentials: $KUBECONFIG, else ~/.kube/config, else the in-cluster service account.")
@click.option("--kubeconfig", type=click.Path(path_type=Path, dir_okay=False, exists=True), default=None,
              help="Kubeconfig for reading the Namespaces; implies --from-cluster.")
def render_command(values_path: Path | None, out_dir: Path, templates: Path | None, check: bool,
                   from_cluster: bool, kubeconfig: Path | None) -> None:
    """Render every dashboard, rule file and the Alertmanager config into OUT."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from observe.render.renderer import Output, diff, plan, write

    try:
        teams = _cluster_teams(values_path, kubeconfig) if from_cluster or kubeconfig else []
        _, steps = plan(values_path, templates, extra_teams=teams)
    except ConfigError as exc:
        click.echo(f"observe: {exc}", err=True)
        sys.exit(2)
    outputs: list[Output] = []
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  transient=True, disable=not sys.stderr.isatty()) as progress:
        task = progress.add_task("rendering", total=len(steps))
        for label, step in steps:
            progress.update(task, description=label)
            outputs.extend(step())
            progress.advance(task)
    outputs.sort(key=lambda o: o.path)
    if check:
        stale = diff(outputs, out_dir)
        for path in stale:
            click.echo(f"differs: {out_dir / path}", err=True)
        if stale:
            click.echo(f"{len(stale)} file(s) in {out_dir} differ from a fresh render; run `make render`", err=True)
            sys.exit(1)
        click.echo(f"{out_dir}: up to date ({len(outputs)} files)")
        return
    changed = write(outputs, out_dir)
    click.echo(f"rendered {len(outputs)} files into {out_dir} ({len(changed)} changed)")


def _cluster_teams(values_path: Path | None, kubeconfig: Path | None) -> list[Team]:
    """Teams from the observe.io/alert-email annotations; every skipped address is reported, never fatal."""
    import aiohttp

    from observe.config import KubeConfig
    from observe.kube import KubeApiError, KubeConfigError
    from observe.render.namespace_teams import ANNOTATION, list_namespaces, namespace_teams
    from observe.render.values import load_values

    model, _ = load_values(values_path)
    try:
        namespaces = asyncio.run(list_namespaces(KubeConfig(kubeconfig=kubeconfig)))
    except KubeConfigError as exc:
        click.echo(f"observe: --from-cluster: {exc} (or pass --kubeconfig)", err=True)
        sys.exit(2)
    except (KubeApiError, aiohttp.ClientError, TimeoutError, OSError) as exc:
        # Rendering without the annotations would silently drop their routes: fail instead.
        click.echo(f"observe: listing Namespaces for {ANNOTATION} failed: {exc}", err=True)
        sys.exit(1)
    result = namespace_teams(namespaces, model.alertmanager.teams)
    for skip in result.skipped:
        click.echo(f"warning: {skip.message()}", err=True)
    reasons = ", ".join(f"{n} {r}" for r, n in result.skipped_by_reason().items()) or "none"
    click.echo(f"{ANNOTATION}: {result.annotated} of {len(namespaces)} namespaces annotated, "
               f"{len(result.teams)} routed to their addresses; skipped: {reasons}", err=True)
    return result.teams


commands: list[click.Command] = [render_command]
