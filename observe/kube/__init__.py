"""Kubernetes API access: list+watch caches."""
