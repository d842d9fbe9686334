"""The ports of a cluster: its processes' heartbeats, and the one leader."""

from __future__ import annotations

from typing import Protocol

from kenshin.domain.cluster import Member


class Members(Protocol):
    """The heartbeats of the cluster's processes, kept where every node sees them."""

    def beat(self, member: Member) -> int:
        """Record ``member``'s heartbeat (its ``seen_at`` is set by the store's clock):
        that time."""

    def list_members(self) -> tuple[list[Member], int]:
        """Every process that has beaten, and the store's clock now."""

    def forget(self, name: str) -> None:
        """Remove a process that has stopped for good."""

    def note(self, name: str) -> str | None:
        """What the leader kept under ``name`` for whichever worker leads next."""

    def keep_note(self, name: str, value: str) -> None:
        """Keep ``value`` under ``name`` (replacing what was there)."""


class Leadership(Protocol):
    """One leader at a time among the workers: who holds it runs the scheduled work."""

    def try_lead(self) -> bool:
        """Take the lead if no other process holds it; whether this process leads now (a
        lead held is checked to be held still, e.g. its connection alive)."""

    def resign(self) -> None:
        """Give the lead up (at shutdown), so another takes it at once."""
