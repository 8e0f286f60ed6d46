"""Traces from Jaeger: span model, Istio pairing, service graph, RED metrics."""
