"""The schema of a database as its own catalog tells it, in one shape for SQLite and PostgreSQL.

tests/test_postgres_schema.py compares the two at every schema version: what counts is what
each engine made of its migrations (PRAGMA table_info/index_list/foreign_key_list on SQLite,
pg_catalog on PostgreSQL), never the text of the files. Where the engines spell one rule
differently (``x IN (0, 1)`` against ``x = ANY (ARRAY[0, 1])``, ``BETWEEN`` against two
comparisons, ``label COLLATE NOCASE`` against ``lower(label)``), a CHECK or an index predicate
is compared by the identifiers and literals it names ("in spirit"), not by its spelling.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass, field
from typing import Any

# Words of SQL and of PostgreSQL's deparsed expressions that say nothing about the rule.
_NOISE = {"in", "any", "array", "between", "text", "bigint", "integer", "check", "collate"}
_CAST = re.compile(r"::(?:text|bigint|integer|character varying)(?:\[\])?")
_BETWEEN = re.compile(r"(\w+\([^()]*\)|\w+)\s+BETWEEN\s+(\S+)\s+AND\s+(\S+)", flags=re.IGNORECASE)
_TOKEN = re.compile(r"'(?:[^']|'')*'|[A-Za-z_][A-Za-z0-9_]*|-?[0-9]+|<>|!=|>=|<=|=|<|>")


def spirit(expression: str) -> tuple[str, ...]:
    """The identifiers, literals and comparison operators of an expression, sorted, with
    casts and keywords dropped: equal for equal rules however each engine spells them."""
    text = _CAST.sub("", expression)
    text = re.sub(r"=\s*ANY\s*\(", " IN (", text)  # PostgreSQL's spelling of IN (...)
    text = _BETWEEN.sub(r"\1 >= \2 AND \1 <= \3", text)  # and of BETWEEN
    tokens = ["<>" if t == "!=" else t.lower() for t in _TOKEN.findall(text)]
    return tuple(sorted(t for t in tokens if t not in _NOISE))


@dataclass(frozen=True)
class Column:
    name: str
    affinity: str  # "integer" | "text" | "blob" | "real"
    not_null: bool
    default: str | None


@dataclass(frozen=True)
class Index:
    columns: tuple[str, ...]  # a case-folded column reads "lower(name)"
    unique: bool
    predicate: tuple[str, ...] | None  # spirit() of a partial index's WHERE, None if whole


@dataclass(frozen=True)
class ForeignKey:
    columns: tuple[str, ...]
    table: str
    ref_columns: tuple[str, ...]
    on_delete: str  # "no action" | "cascade" | "set null" | ...


@dataclass
class Table:
    columns: dict[str, Column] = field(default_factory=dict)
    primary_key: tuple[str, ...] = ()
    named_indexes: dict[str, Index] = field(default_factory=dict)
    unique_constraints: set[tuple[str, ...]] = field(default_factory=set)
    checks: list[tuple[str, ...]] = field(default_factory=list)
    foreign_keys: set[ForeignKey] = field(default_factory=set)


def _default(value: str | None) -> str | None:
    """A default as a bare literal: ``'pending'::text`` and ``'pending'`` alike read pending."""
    if value is None:
        return None
    text = _CAST.sub("", value.strip()).strip("()")
    return text.strip("'")


def _affinity(declared: str) -> str:
    upper = declared.upper()
    if "INT" in upper:
        return "integer"
    if "CHAR" in upper or "TEXT" in upper or "CLOB" in upper:
        return "text"
    if "BLOB" in upper or "BYTEA" in upper or not upper:
        return "blob"
    return "real"


def _check_clauses(sql: str) -> list[str]:
    """Every ``CHECK (...)`` of a CREATE TABLE statement (SQLite keeps no catalog of them)."""
    found: list[str] = []
    without_comments = re.sub(r"--[^\n]*", "", sql)
    for match in re.finditer(r"\bCHECK\s*\(", without_comments, flags=re.IGNORECASE):
        depth, start = 1, match.end()
        position = start
        while depth:
            char = without_comments[position]
            depth += {"(": 1, ")": -1}.get(char, 0)
            position += 1
        found.append(without_comments[start : position - 1])
    return found


def sqlite_catalog(conn: sqlite3.Connection) -> dict[str, Table]:
    """Every table of a SQLite database (its internal tables left out)."""
    tables: dict[str, Table] = {}
    rows = conn.execute(
        "SELECT name, sql FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    ).fetchall()
    for name, sql in rows:
        table = Table()
        info = conn.execute(f'PRAGMA table_info("{name}")').fetchall()
        pk = [row for row in sorted(info, key=lambda r: r[5]) if row[5]]
        table.primary_key = tuple(str(row[1]) for row in pk)
        for _cid, column, declared, not_null, default, in_pk in info:
            table.columns[column] = Column(
                column, _affinity(declared), bool(not_null) or bool(in_pk), _default(default)
            )
        for _seq, index_name, unique, origin, partial in conn.execute(
            f'PRAGMA index_list("{name}")'
        ).fetchall():
            columns = tuple(
                f"lower({col})" if (collation or "").upper() == "NOCASE" else str(col)
                for _s, _cid, col, _desc, collation, key in conn.execute(
                    f'PRAGMA index_xinfo("{index_name}")'
                ).fetchall()
                if key
            )
            if origin == "pk":
                continue
            if origin == "u":
                table.unique_constraints.add(columns)
                continue
            predicate = None
            if partial:
                (index_sql,) = conn.execute(
                    "SELECT sql FROM sqlite_schema WHERE name = ?", (index_name,)
                ).fetchone()
                where = re.split(r"\bWHERE\b", index_sql, maxsplit=1, flags=re.IGNORECASE)[1]
                predicate = spirit(where)
            table.named_indexes[index_name] = Index(columns, bool(unique), predicate)
        table.checks = sorted(spirit(clause) for clause in _check_clauses(sql))
        by_id: dict[int, list[Any]] = {}
        for fk_id, _seq, ref_table, column, ref_column, _upd, on_delete, _match in conn.execute(
            f'PRAGMA foreign_key_list("{name}")'
        ).fetchall():
            by_id.setdefault(fk_id, []).append((column, ref_table, ref_column, on_delete))
        for parts in by_id.values():
            table.foreign_keys.add(
                ForeignKey(
                    tuple(p[0] for p in parts),
                    parts[0][1],
                    tuple(p[2] for p in parts),
                    str(parts[0][3]).lower(),
                )
            )
        tables[name] = table
    return tables


_PG_ON_DELETE = {
    "a": "no action", "r": "restrict", "c": "cascade", "n": "set null", "d": "set default",
}  # fmt: skip


async def postgres_catalog(conn: Any) -> dict[str, Table]:
    """Every table of the ``public`` schema of a PostgreSQL database (asyncpg connection)."""
    tables: dict[str, Table] = {}
    for row in await conn.fetch(
        "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod) AS type,"
        " a.attnotnull, pg_get_expr(d.adbin, d.adrelid) AS dflt"
        " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped"
        " LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum"
        " WHERE n.nspname = 'public' AND c.relkind = 'r' ORDER BY c.relname, a.attnum"
    ):
        table = tables.setdefault(row["relname"], Table())
        default = row["dflt"]
        if default is not None and default.startswith("nextval("):
            default = None
        table.columns[row["attname"]] = Column(
            row["attname"], _affinity(row["type"]), bool(row["attnotnull"]), _default(default)
        )
    for row in await conn.fetch(
        "SELECT c.relname AS tbl, i.relname AS idx, x.indisunique, x.indisprimary,"
        " pg_get_expr(x.indpred, x.indrelid) AS pred,"
        " ARRAY(SELECT pg_get_indexdef(x.indexrelid, k + 1, true)"
        "       FROM generate_subscripts(x.indkey, 1) AS k ORDER BY k) AS cols,"
        " EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = x.indexrelid"
        "         AND k.contype IN ('u', 'p')) AS is_constraint"
        " FROM pg_index x JOIN pg_class c ON c.oid = x.indrelid"
        " JOIN pg_class i ON i.oid = x.indexrelid"
        " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'"
    ):
        table = tables[row["tbl"]]
        columns = tuple(str(col).strip('"') for col in row["cols"])
        if row["indisprimary"]:
            table.primary_key = columns
            continue
        if row["is_constraint"]:
            table.unique_constraints.add(columns)
            continue
        predicate = None if row["pred"] is None else spirit(row["pred"])
        table.named_indexes[row["idx"]] = Index(columns, bool(row["indisunique"]), predicate)
    for row in await conn.fetch(
        "SELECT c.relname AS tbl, k.contype::text AS contype, pg_get_constraintdef(k.oid) AS def,"
        " f.relname AS ref, k.confdeltype::text AS confdeltype,"
        " ARRAY(SELECT a.attname FROM unnest(k.conkey) WITH ORDINALITY u(n, o)"
        "       JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.n"
        "       ORDER BY u.o) AS cols,"
        " ARRAY(SELECT a.attname FROM unnest(k.confkey) WITH ORDINALITY u(n, o)"
        "       JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.n"
        "       ORDER BY u.o) AS ref_cols"
        " FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " LEFT JOIN pg_class f ON f.oid = k.confrelid"
        " WHERE n.nspname = 'public' AND k.contype IN ('c', 'f')"
    ):
        table = tables[row["tbl"]]
        if row["contype"] == "c":
            table.checks.append(spirit(row["def"].removeprefix("CHECK ")))
        else:
            table.foreign_keys.add(
                ForeignKey(
                    tuple(row["cols"]),
                    row["ref"],
                    tuple(row["ref_cols"]),
                    _PG_ON_DELETE[row["confdeltype"]],
                )
            )
    for table in tables.values():
        table.checks.sort()
    return tables


def sqlite_triggers(conn: sqlite3.Connection) -> dict[str, str]:
    """Trigger name -> its table."""
    rows = conn.execute("SELECT name, tbl_name FROM sqlite_schema WHERE type = 'trigger'")
    return {str(name): str(table) for name, table in rows.fetchall()}


async def postgres_triggers(conn: Any) -> dict[str, str]:
    """Trigger name -> its table (user triggers of ``public``; not the foreign-key ones)."""
    rows = await conn.fetch(
        "SELECT t.tgname, c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public' AND NOT t.tgisinternal"
    )
    return {str(row["tgname"]): str(row["relname"]) for row in rows}


async def postgres_text_collations(conn: Any) -> dict[tuple[str, str], str]:
    """(table, column) -> collation of every text column of ``public``."""
    rows = await conn.fetch(
        "SELECT c.relname, a.attname, co.collname FROM pg_attribute a"
        " JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
        " LEFT JOIN pg_collation co ON co.oid = a.attcollation"
        " WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attnum > 0"
        " AND NOT a.attisdropped AND a.atttypid = 'text'::regtype"
    )
    return {(str(r["relname"]), str(r["attname"])): str(r["collname"]) for r in rows}
