"""`python -m observe` is the `observe` CLI."""

from observe.app.cli import main

main()
