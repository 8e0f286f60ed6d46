"""Config of the log shipper (the `logs` section)."""

from pydantic import Field

from observe.config_section import Section


class LogsConfig(Section):
    """The log shipper."""

    paths: list[str] = Field(
        default_factory=lambda: ["/var/log/containers/*.log"], description="Globs of log files to tail."
    )
