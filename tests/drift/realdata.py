"""Real texts for the drift, OOD, calibration and linguistic tests, embedded once per session.

Texts come from the shared datasets (``tests.data.rows``) and, for other scripts, from the
translated message catalogues that Debian installs under /usr/share/locale (real translations
of GNU coreutils messages, read with a small .mo parser); tests that need them skip if absent.
"""

from __future__ import annotations

import struct
from functools import lru_cache
from pathlib import Path

import numpy as np

from stream_al.config import Settings
from stream_al.embed import Embedder, make_embedder
from tests.data import rows

LOCALES = Path("/usr/share/locale")


@lru_cache(maxsize=1)
def static_embedder() -> Embedder:
    """The static embedder, built once per machine and cached (about 20 s the first time)."""
    return make_embedder(Settings.load(embedder={"name": "static"}).embedder)


@lru_cache(maxsize=16)
def embedded(name: str, n: int, seed: int = 0) -> tuple[list[str], list[str], np.ndarray]:
    """``n`` shuffled rows of dataset ``name``: texts, labels and static embeddings."""
    data = rows(name, n, seed)
    texts, labels = [t for t, _ in data], [y for _, y in data]
    return texts, labels, static_embedder().embed(texts)


@lru_cache(maxsize=8)
def translations(lang: str, domain: str = "coreutils") -> tuple[str, ...]:
    """The translated messages of a GNU message catalogue (.mo), longest first."""
    path = LOCALES / lang / "LC_MESSAGES" / f"{domain}.mo"
    if not path.exists():
        return ()
    data = path.read_bytes()
    order = "<" if data[:4] == b"\xde\x12\x04\x95" else ">"
    _, n, _, translated_at = struct.unpack(order + "4I", data[4:20])
    out = []
    for i in range(1, n):  # entry 0 is the catalogue header
        at = translated_at + 8 * i
        length, offset = struct.unpack(order + "2I", data[at : at + 8])
        text = " ".join(data[offset : offset + length].decode("utf-8", "replace").split())
        if len(text) > 40 and "%" not in text:  # real sentences, not format strings
            out.append(text.split("\x00")[0])
    return tuple(sorted(set(out), key=len, reverse=True))
