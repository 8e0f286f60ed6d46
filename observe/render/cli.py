"""CLI command `observe render`: dashboards, rules and Alertmanager config from templates, deterministically."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from observe.config import ConfigError


@click.command("render")
@click.option("--values", "values_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Values YAML merged over the built-in defaults (observe/render/values.yaml).")
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="Output folder, e.g. helm/observe/files.")
@click.option("--templates", "templates", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Folder holding dashboards/ and alerts/ (default: this checkout).")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 when --out differs from a fresh render.")
def render_command(values_path: Path | None, out_dir: Path, templates: Path | None, check: bool) -> None:
    """Render every dashboard, rule file and the Alertmanager config into OUT."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from observe.render.renderer import Output, diff, plan, write

    try:
        _, steps = plan(values_path, templates)
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


commands: list[click.Command] = [render_command]
