"""CLI commands of the exporters: `observe export ...`."""

import click

commands: list[click.Command] = []
