"""Backup and restore of Summit's database (``summit backup`` / ``summit restore``)."""
