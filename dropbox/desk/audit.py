"""The desk's audit log: who (a desk user's name, or "cli"), what action, which desk, which day.

Callers pass only officials' data: names of desk users and officers, desk slugs, counts, sequence
numbers. Never a case number, a receipt, a lookup id or anything a reporter sent.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from ..models import AuditEntry


def record(session: Session, actor: str, action: str, desk: str | None = None, detail: str = "") -> None:
    """Add an entry to the caller's transaction (the caller commits)."""
    session.add(
        AuditEntry(
            actor=actor[:80], action=action[:40], desk=desk[:40] if desk else None, detail=detail[:200]
        )
    )
