"""A unit of work builds each repository on first use (bench/updates.py: building all 30 on
every BEGIN was a measurable part of each update), bound to that unit's connection only."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from storage.sessions_repository import SqliteSessionsRepository
from storage.unit_of_work import (
    _REPOSITORIES,
    SqliteUnitOfWork,
    TransactionLock,
    UnitOfWorkRepositories,
)


def _unit(conn: Any) -> SqliteUnitOfWork:
    return SqliteUnitOfWork(lambda: conn, TransactionLock(), read_only=True, columns=[])


def test_each_repository_is_built_once_per_binding_on_its_connection() -> None:
    first: Any = sqlite3.connect(":memory:")
    second: Any = sqlite3.connect(":memory:")
    unit = _unit(first)
    unit._bind(first, [])
    sessions = unit.sessions
    assert isinstance(sessions, SqliteSessionsRepository)
    assert unit.sessions is sessions  # kept for the rest of the unit
    assert "accounts" not in vars(unit)  # never asked for: never built
    unit._bind(second, [])
    assert unit.sessions is not sessions  # a new binding forgets the old connection's ones
    assert vars(unit.sessions)["_conn"] is second


def test_every_declared_repository_can_be_built_and_nothing_else_is_invented() -> None:
    conn: Any = sqlite3.connect(":memory:")
    unit = _unit(conn)
    with pytest.raises(AttributeError):
        _ = unit.sessions  # not bound yet (before BEGIN): no repository at all
    unit._bind(conn, [])
    declared = {n for n in UnitOfWorkRepositories.__annotations__ if not n.startswith("_")}
    assert set(_REPOSITORIES) == declared
    typo = "sesions"
    for name in declared:
        assert getattr(unit, name) is not None
    with pytest.raises(AttributeError):
        getattr(unit, typo)  # a name that is no repository stays an error
