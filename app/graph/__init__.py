"""The entity graph: entities, edges, full-text search and the HOT query cache."""
