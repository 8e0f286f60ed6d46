"""Config of the trace puller (the `traces` section)."""

from pydantic import Field

from observe.config_section import Section


class TracesConfig(Section):
    """The trace puller."""

    jaeger_url: str = Field("", description="Jaeger query base URL, e.g. http://jaeger-query:16686. Empty: off.")
