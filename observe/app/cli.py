"""`observe`: one CLI for every service and tool. Subcommands stay thin and call into the packages.

Each part's CLI module lists its commands; this root imports them (parts never import the root).
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable
from pathlib import Path

import click

from observe import __version__
from observe.app.options import config_option, config_or_exit
from observe.logs.cli import commands as logs_commands


def _export_commands() -> list[click.Command]:
    from exporters.cli import commands

    return commands


def _render_commands() -> list[click.Command]:
    from observe.render.cli import commands

    return commands


def _traces_commands() -> list[click.Command]:
    from observe.traces.cli import commands

    return commands


LAZY: dict[str, Callable[[], list[click.Command]]] = {
    "export": _export_commands, "render": _render_commands, "traces": _traces_commands,
}
"""Top-level commands whose module is imported only when they run or help lists them (issue 18: `observe ship`
loads neither the exporters' nor the render stack's modules)."""


class _Root(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in LAZY and cmd_name not in self.commands:
            for command in LAZY[cmd_name]():
                self.add_command(command)
        return super().get_command(ctx, cmd_name)


# Commands that turn the garbage collector back on themselves, after start-up (observe.service.tune_collector).
TUNE_COLLECTOR = {"ship", "export"}


@click.group(cls=_Root, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="observe")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """observe: log shipping, cluster metrics, dashboards, alerts and traces for Kubernetes."""
    if ctx.invoked_subcommand not in TUNE_COLLECTOR:
        gc.enable()  # the console script starts with it off (observe/app/start.py)


@cli.group("config")
def config_group() -> None:
    """Validate the config and print its reference."""


@config_group.command("check")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
def config_check(file: Path) -> None:
    """Validate FILE (and OBSERVE_* env overrides); exit 2 with the reason when it is invalid."""
    config_or_exit(file)
    click.echo(f"{file}: ok")


@config_group.command("reference")
def config_reference() -> None:
    """Print the configuration reference as Markdown (docs/configuration.md)."""
    from observe.app.config_reference import render_reference

    click.echo(render_reference(), nl=False)


@cli.command("up")
@config_option
@click.option("--logs", "logs_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Folder of container log files to ship (default /var/log/containers when it exists).")
def up(config_path: Path | None, logs_dir: Path | None) -> None:
    """Run every service in one process on this machine, with embedded defaults."""
    from observe.app.up import run_up

    sys.exit(run_up(config_or_exit(config_path), logs_dir=logs_dir))


for command in logs_commands:
    cli.add_command(command)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="observe")
