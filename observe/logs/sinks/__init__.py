"""Where batches go: the Sink protocol, the null and spool sinks, and the Elasticsearch/OpenSearch sink."""
