"""`python -m observe` is the `observe` CLI."""

from observe.cli import main

main()
