"""The one base class of stream-al's own exceptions.

Every error a user can fix (a bad setting, a missing file, a broker that does not answer)
derives from :class:`StreamAlError`, and its message names the fix. The specific classes live
next to what raises them (``config.ConfigError``, ``dataset.DatasetError``,
``registry.store.RegistryError``, ...), so callers catch exactly what they mean; the command
line catches the base and prints one line, and lets anything else (a bug) show its traceback.

>>> from stream_al.config import ConfigError
>>> issubclass(ConfigError, StreamAlError)
True
"""

from __future__ import annotations


class StreamAlError(Exception):
    """Something the user can fix; the message says how."""
