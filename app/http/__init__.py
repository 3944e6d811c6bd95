"""HTTP adapters: one blueprint per area, registered only by the app factory."""
