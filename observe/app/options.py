"""What every subcommand that runs a service shares: the --config option and loading the config or exiting 2."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from observe.app.config import Config, load_config
from observe.config import ConfigError


def config_or_exit(path: Path | None) -> Config:
    """Load the config, or print what is wrong and exit with code 2."""
    try:
        return load_config(path)
    except ConfigError as exc:
        click.echo(f"observe: {exc}", err=True)
        sys.exit(2)


config_option = click.option(
    "--config", "config_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
    envvar="OBSERVE_CONFIG", help="YAML config file (env OBSERVE_CONFIG). OBSERVE_* env vars override it.",
)
