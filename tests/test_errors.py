"""One base class for every error a user can fix, so the command line can tell them from bugs."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import stream_al
from stream_al.errors import StreamAlError


def project_errors() -> dict[str, type]:
    """Every exception class defined in a stream_al module, by qualified name."""
    found = {}
    for info in pkgutil.walk_packages(stream_al.__path__, "stream_al."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if (inspect.isclass(obj) and issubclass(obj, Exception)
                    and obj.__module__ == info.name):
                found[f"{info.name}.{name}"] = obj
    return found


def test_every_project_error_derives_from_the_one_base():
    errors = project_errors()
    assert len(errors) >= 10
    outside = {name for name, cls in errors.items() if not issubclass(cls, StreamAlError)}
    assert not outside, f"derive these from stream_al.errors.StreamAlError: {outside}"


def test_the_specific_errors_keep_their_builtin_base():
    from stream_al.config import ConfigError
    from stream_al.dataset import DatasetError
    from stream_al.stream.topics import TopicError

    assert issubclass(ConfigError, ValueError) and issubclass(DatasetError, ValueError)
    assert issubclass(TopicError, RuntimeError)
