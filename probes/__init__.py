"""Synthetic probes: journeys that exercise Summit like a user would, the browser
runner, and the recording and evaluation of every run. Imports no Flask.

The adapters (``app.probing`` for the scheduler, CLI and HTTP API) call these
with a session, a clock and clients; nothing here reads a request or settings.
"""
