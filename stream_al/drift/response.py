"""The drift response's clock: an alarm starts it, it counts stream items, it says how much
may be borrowed and what share of the spending explores the drifting region.

The selector that acts on it, borrowing budget and exploring, is
:class:`~stream_al.select.drift_aware.DriftAwareSelector` (its module states the budget
guarantee).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from stream_al.config import DriftSettings
from stream_al.drift.base import DriftAlarm, Region


@dataclass
class DriftResponse:
    """The response's clock: when it started, whether it is on, how much it may borrow.

    It counts stream items itself (:meth:`observe`), so it needs no shared position with the
    monitor: an alarm starts (or restarts) a response at the current item.
    """

    fraction: float
    period: int = 600
    boost: float = 3.0
    max_credit: float = 20.0
    explore_share: float = 0.5
    position: int = 0
    started_at: int | None = None
    region: Region | None = None
    alarms: list[DriftAlarm] = field(default_factory=list)

    @classmethod
    def from_settings(cls, settings: DriftSettings, fraction: float) -> DriftResponse:
        return cls(fraction, settings.response_items, settings.boost, settings.max_credit,
                   settings.explore_share)

    def __post_init__(self) -> None:
        if not 0 < self.fraction <= 1:
            raise ValueError(f"budget must be in (0, 1], got {self.fraction}")
        if self.boost < 1 or self.max_credit < 0 or not 0 <= self.explore_share <= 1:
            raise ValueError("drift response needs boost >= 1, max_credit >= 0 and "
                             f"explore_share in [0, 1]; got {self.boost}, {self.max_credit}, "
                             f"{self.explore_share}")

    def on_alarm(self, alarm: DriftAlarm, region: Region | None = None) -> None:
        """Start a response now (a running one restarts, keeping its debt)."""
        if self.period <= 0:
            return
        self.alarms.append(alarm)
        self.started_at = self.position
        self.region = region

    def observe(self, n_items: int) -> None:
        self.position += n_items

    @property
    def elapsed(self) -> int:
        return -1 if self.started_at is None else self.position - self.started_at

    @property
    def active(self) -> bool:
        return 0 <= self.elapsed < self.period

    def credit_limit(self) -> float:
        """Extra spending allowed so far in this response: (boost - 1) x the accrual, capped."""
        if not self.active:
            return 0.0
        return min(self.max_credit, (self.boost - 1.0) * self.fraction * self.elapsed)

    @property
    def explore_fraction(self) -> float:
        """Exploration's share of the stream during a response (its own accrual rate)."""
        return min(1.0, self.explore_share * self.boost * self.fraction)
