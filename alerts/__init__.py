"""Alerting: incidents now; SLO rules, Alertmanager routing and paging later.
Imports no Flask."""
