"""Errors a service raises while starting that the user can fix: the service kit prints them and exits with 2."""


class StartError(Exception):
    """A service cannot start for a reason the message names (missing credentials, a port in use)."""
