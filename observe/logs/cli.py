"""CLI commands of the log pipeline: `observe ship` and `observe logs ...`."""

import click

commands: list[click.Command] = []
