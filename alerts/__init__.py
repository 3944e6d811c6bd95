"""Alerting's domain: SLO specs (``slo``), Prometheus rules (``rules``),
Alertmanager routing (``routing``, ``who``), the build folder (``build``), SLO
status (``status``) and incidents. Imports no Flask, no click."""
