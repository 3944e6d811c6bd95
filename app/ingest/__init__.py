"""Ingest at scale: events, backpressure, the dead-letter queue and replay."""
