"""What a backup or a restore refuses, and what it finds broken."""

from __future__ import annotations


class BackupError(RuntimeError):
    """An expected failure; the message says what and how to go on."""


class Refused(BackupError):
    """Not done, by rule or for a missing part (usage, configuration): exit 2."""


class Corrupt(BackupError):
    """The backup (or the restored database) failed a check: exit 1."""
