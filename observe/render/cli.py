"""CLI command `observe render`."""

import click

commands: list[click.Command] = []
