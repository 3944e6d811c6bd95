"""Data governance: retention and purge, legal holds, subject access export, and
the tamper-evident audit log. Plain functions over a session and a clock;
imports no Flask, no click (the HTTP API, pages, CLI and jobs live in
``app/governance``)."""
