"""How often something is done: at most every so many seconds of the wall clock, and never
stalled by a clock set back.

The coordinator core takes the time as an argument (``now``, ``time.time()`` in the worker),
so its rate limits are on the wall clock. A clock stepped back (an NTP correction, a virtual
machine restored or migrated) would make ``now - last`` negative until the clock caught up:
refits, model publishing and idle flushes would stop for as long as the step. A
:class:`Cadence` counts a clock that went back as due instead.

>>> refit = Cadence(every_s=0.25)
>>> refit.due(100.0), refit.mark(100.0), refit.due(100.1), refit.due(100.3)
(True, None, False, True)
>>> refit.due(40.0)  # the clock was set back a minute: due now, not in a minute
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class Cadence:
    every_s: float
    last: float = -math.inf
    """When it was last done (``-inf``: never)."""

    def due(self, now: float) -> bool:
        """``every_s`` have passed since :attr:`last`, or the clock went back past it."""
        elapsed = now - self.last
        return elapsed >= self.every_s or elapsed < 0

    def mark(self, now: float) -> None:
        """It was done at ``now``."""
        self.last = now
