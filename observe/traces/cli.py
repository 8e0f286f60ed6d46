"""CLI commands of the trace puller: `observe traces ...`."""

import click

commands: list[click.Command] = []
