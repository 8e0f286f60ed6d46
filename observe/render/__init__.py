"""Rendering of dashboards and alerts from Jinja2 templates."""
