"""Feedback analytics: thumbs up or down on search results, aggregated by dataset and day."""
