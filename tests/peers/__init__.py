"""Real peers for integration tests: each module installs, starts and stops one server."""
