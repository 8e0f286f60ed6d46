"""The log pipeline: tail, decode, enrich, encode, batch, sink, acks, checkpoint."""
