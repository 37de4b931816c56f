"""Errors of the command line itself."""

from __future__ import annotations

from stream_al.errors import StreamAlError


class CommandError(StreamAlError):
    """A command cannot run as asked (an option, a broker that does not answer); the message
    names the fix."""
