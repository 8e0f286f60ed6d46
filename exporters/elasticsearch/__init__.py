"""The Elasticsearch/OpenSearch exporter: health, node and data stream stats, fetched on an interval and cached."""
