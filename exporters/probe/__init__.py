"""The probe exporter: blackbox-style /probe behind an allowlist, and /targets discovery from annotated objects."""
