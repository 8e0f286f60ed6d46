"""The Elasticsearch / OpenSearch sink, laid out by role: config, request, retry, deadletter, provision, span, sink."""
