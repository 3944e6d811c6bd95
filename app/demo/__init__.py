"""The demo data of SPEC.md and the demo script."""
