"""`python -m observe` is the `observe` CLI."""

from observe.app.start import main

main()
