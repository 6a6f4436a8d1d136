"""One schema on two backends: a fresh SQLite database (storage.schema.MIGRATIONS) and a fresh PostgreSQL database
(storage.postgres.PG_MIGRATIONS) are created as the program creates them, and their live catalogues are compared
table by table and column by column — SQLite's PRAGMA table_xinfo against PostgreSQL's information_schema.columns:
the tables, each table's columns in order, a column's type family (SQLite's storage classes: integer, real, text,
blob, numeric), NOT NULL as each database enforces it, defaults, ids the database assigns, primary keys and the other
indexes. A column added to one migration text only, or typed, constrained or keyed differently, fails here; what
differs on purpose is listed below, each with its reason."""

from __future__ import annotations

import contextlib
import re
import sqlite3
from dataclasses import dataclass

import psycopg
import pytest

import database as db

# Tables one backend has and the other has not, by design. Everything else must exist on both.
ONLY_IN_POSTGRES = {
    "schema_version",  # PostgreSQL's record of applied migrations; SQLite keeps its version in PRAGMA user_version
}
ONLY_IN_SQLITE: set[str] = set()
# Not compared at all: SQLite's own tables (sqlite_sequence, sqlite_stat1, …); on PostgreSQL, ticks' day partitions
# (ticks_d<day>, made as ticks arrive: partitions of ticks with its columns) and anything outside the public schema
# (TimescaleDB's chunks and catalogue, the session's temporary ticks_in staging table).

# Primary keys that differ by design: table -> (SQLite's key, PostgreSQL's key).
PRIMARY_KEY_DIFFERENCES = {
    # A partitioned table's key must hold its partition column (a hypertable's too), so PostgreSQL keys ticks by
    # (symbol, timestamp, id_space, trade_id) — which also serves window reads — where SQLite keys it by
    # (symbol, id_space, trade_id) and reads windows through ix_ticks_symbol_time. A trade is stored once either way:
    # one re-sent by Binance carries its original time.
    "ticks": (("symbol", "id_space", "trade_id"), ("symbol", "timestamp", "id_space", "trade_id")),
}
# Indexes (besides primary keys) one backend has by design.
INDEXES_ONLY_IN_SQLITE = {
    "ix_ticks_symbol_time",  # PostgreSQL's ticks key starts (symbol, timestamp): the key is this index there
}
INDEXES_ONLY_IN_POSTGRES = {
    "ticks_timestamp_idx",  # TimescaleDB's default time index on a hypertable (the hypertable layout only)
}

# PostgreSQL types by the SQLite storage class their values take. A type missing here fails the comparison (map it).
POSTGRES_FAMILIES = {
    "smallint": "integer",
    "integer": "integer",
    "bigint": "integer",
    "boolean": "integer",  # SQLite has no boolean: a flag is INTEGER 0/1 there (ticks.is_buyer_maker)
    "real": "real",
    "double precision": "real",
    "text": "text",
    "character varying": "text",
    "character": "text",
    "bytea": "blob",
    "numeric": "numeric",
}


@dataclass(frozen=True)
class Column:
    name: str
    family: str  # integer, real, text, blob or numeric
    not_null: bool  # as enforced, not only as declared
    default: str | None  # the default's SQL text, without PostgreSQL's ::type casts
    assigned_id: bool  # the database numbers the column when an INSERT leaves it out


@dataclass(frozen=True)
class Table:
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    indexes: frozenset[tuple[str, tuple[str, ...], bool]]  # (name, columns, unique), primary keys aside


def sqlite_family(declared: str) -> str:
    """A declared SQLite type's affinity (https://www.sqlite.org/datatype3.html#determination_of_column_affinity)."""
    t = declared.upper()
    if "INT" in t:
        return "integer"
    if any(word in t for word in ("CHAR", "CLOB", "TEXT")):
        return "text"
    if not t or "BLOB" in t:
        return "blob"
    if any(word in t for word in ("REAL", "FLOA", "DOUB")):
        return "real"
    return "numeric"


def sqlite_schema(path: str) -> dict[str, Table]:
    tables = {}
    with contextlib.closing(sqlite3.connect(path)) as conn:
        listed = conn.execute(
            "SELECT name, wr FROM pragma_table_list WHERE schema = 'main' AND type = 'table' "
            "AND name NOT LIKE 'sqlite_%'"
        ).fetchall()
        for name, without_rowid in listed:
            info = conn.execute(f"PRAGMA table_xinfo({name})").fetchall()  # cid, name, type, notnull, default, pk
            key = tuple(row[1] for row in sorted((r for r in info if r[5]), key=lambda r: r[5]))
            # A rowid table's INTEGER PRIMARY KEY is the rowid (never NULL, numbered when left out); any other key
            # column of a rowid table takes NULL unless declared NOT NULL (SQLite's documented legacy quirk).
            rowid_alias = (
                not without_rowid and len(key) == 1 and next(r for r in info if r[1] == key[0])[2].upper() == "INTEGER"
            )
            columns = tuple(
                Column(
                    row[1],
                    sqlite_family(row[2]),
                    bool(row[3]) or (bool(row[5]) and (bool(without_rowid) or rowid_alias)),
                    row[4],
                    rowid_alias and row[1] == key[0],
                )
                for row in info
            )
            indexes = frozenset(
                (index, tuple(r[2] for r in conn.execute(f"PRAGMA index_info({index})")), bool(unique))
                for _, index, unique, origin, _ in conn.execute(f"PRAGMA index_list({name})")
                if origin != "pk"
            )
            tables[name] = Table(columns, key, indexes)
    return tables


def postgres_schema(url: str) -> dict[str, Table]:
    tables = {}
    with psycopg.connect(url) as conn:
        names = [
            r[0]
            for r in conn.execute(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition"
            ).fetchall()
        ]
        for name in names:
            info = conn.execute(
                "SELECT column_name, data_type, is_nullable, column_default, is_identity "
                "FROM information_schema.columns WHERE table_schema = 'public' AND table_name = %s "
                "ORDER BY ordinal_position",
                (name,),
            ).fetchall()
            columns = tuple(
                Column(
                    column,
                    POSTGRES_FAMILIES.get(kind, f"unmapped PostgreSQL type {kind}"),
                    nullable == "NO",
                    _without_casts(default),
                    identity == "YES" or (default or "").startswith("nextval("),
                )
                for column, kind, nullable, default, identity in info
            )
            key = tuple(
                r[0]
                for r in conn.execute(
                    "SELECT k.column_name FROM information_schema.table_constraints c "
                    "JOIN information_schema.key_column_usage k ON k.constraint_schema = c.constraint_schema "
                    "AND k.constraint_name = c.constraint_name AND k.table_name = c.table_name "
                    "WHERE c.table_schema = 'public' AND c.table_name = %s AND c.constraint_type = 'PRIMARY KEY' "
                    "ORDER BY k.ordinal_position",
                    (name,),
                ).fetchall()
            )
            indexes = frozenset(
                (index, tuple(cols), unique)
                for index, cols, unique in conn.execute(
                    "SELECT i.relname, array_agg(a.attname ORDER BY k.n), x.indisunique FROM pg_index x "
                    "JOIN pg_class i ON i.oid = x.indexrelid "
                    "CROSS JOIN LATERAL unnest(x.indkey) WITH ORDINALITY AS k(attnum, n) "
                    "JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum "
                    "WHERE x.indrelid = %s::regclass AND NOT x.indisprimary GROUP BY i.relname, x.indisunique",
                    (f"public.{name}",),
                ).fetchall()
            )
            tables[name] = Table(columns, key, indexes)
    return tables


def _without_casts(default: str | None) -> str | None:
    """PostgreSQL shows a default with its type cast ('ticks'::text); SQLite as written ('ticks')."""
    return None if default is None or default.startswith("nextval(") else re.sub(r"(::[a-z ]+)+$", "", default)


def differences(lite: dict[str, Table], pg: dict[str, Table]) -> list[str]:
    """Every way the two schemas differ that is not listed above as by design, in words."""
    found = [f"table {name} only in SQLite" for name in sorted(lite.keys() - pg.keys() - ONLY_IN_SQLITE)]
    found += [f"table {name} only in PostgreSQL" for name in sorted(pg.keys() - lite.keys() - ONLY_IN_POSTGRES)]
    for name in sorted(lite.keys() & pg.keys()):
        a, b = lite[name], pg[name]
        names_a, names_b = [c.name for c in a.columns], [c.name for c in b.columns]
        found += [f"{name}.{c} only in SQLite" for c in names_a if c not in names_b]
        found += [f"{name}.{c} only in PostgreSQL" for c in names_b if c not in names_a]
        if [c for c in names_a if c in names_b] != [c for c in names_b if c in names_a]:
            found.append(f"{name}: columns in order {names_a} in SQLite, {names_b} in PostgreSQL")
        in_b = {c.name: c for c in b.columns}
        found += [
            f"{name}.{x.name}: {x} in SQLite, {in_b[x.name]} in PostgreSQL"
            for x in a.columns
            if x.name in in_b and x != in_b[x.name]
        ]
        keys = PRIMARY_KEY_DIFFERENCES.get(name, (a.primary_key, a.primary_key))
        if (a.primary_key, b.primary_key) != keys:
            found.append(f"{name}: primary key {a.primary_key} in SQLite, {b.primary_key} in PostgreSQL")
        only_a = {i for i in a.indexes - b.indexes if i[0] not in INDEXES_ONLY_IN_SQLITE}
        only_b = {i for i in b.indexes - a.indexes if i[0] not in INDEXES_ONLY_IN_POSTGRES}
        found += [f"{name}: index {i} only in SQLite" for i in sorted(only_a)]
        found += [f"{name}: index {i} only in PostgreSQL" for i in sorted(only_b)]
    return found


@pytest.fixture(params=["partitions", "hypertable"])
def pg_url(request) -> str:
    """A new database on a server without TimescaleDB (ticks in day partitions) and, where the extension is
    installed, on one preloading it (ticks in a hypertable: the first migration without PARTITION BY)."""
    return request.getfixturevalue("pg_server" if request.param == "partitions" else "tsdb_server").create_database()


def test_sqlite_and_postgresql_create_the_same_schema(tmp_path, pg_url):
    path = str(tmp_path / "ticks.db")
    db.open_writer(path).close()
    db.open_writer(pg_url).close()
    lite, pg = sqlite_schema(path), postgres_schema(pg_url)
    assert {"ticks", "ohlc_data", "symbol_stats"} <= lite.keys() & pg.keys()  # the catalogues were read at all
    found = differences(lite, pg)
    assert not found, "the two migrations' schemas differ (append a migration to one of them):\n" + "\n".join(found)


def test_a_difference_is_named():
    """The comparison itself: a column added on one side only, a changed type family, a dropped NOT NULL and a
    different key are each reported."""
    column = Column("price", "real", True, None, False)
    base = Table((Column("symbol", "text", True, None, False), column), ("symbol",), frozenset())
    assert differences({"t": base}, {"t": base}) == []
    wider = Table((*base.columns, Column("fee", "real", False, None, False)), ("symbol",), frozenset())
    assert differences({"t": base}, {"t": wider}) == ["t.fee only in PostgreSQL"]
    swapped = Table(base.columns[::-1], ("symbol",), frozenset())
    assert differences({"t": base}, {"t": swapped}) == [
        "t: columns in order ['symbol', 'price'] in SQLite, ['price', 'symbol'] in PostgreSQL"
    ]
    as_text = Table((base.columns[0], Column("price", "text", False, None, False)), ("symbol", "price"), frozenset())
    assert differences({"t": base}, {"t": as_text}) == [
        f"t.price: {column} in SQLite, {as_text.columns[1]} in PostgreSQL",
        "t: primary key ('symbol',) in SQLite, ('symbol', 'price') in PostgreSQL",
    ]
    assert differences({"t": base, "u": base}, {"t": base}) == ["table u only in SQLite"]
    indexed = Table(base.columns, ("symbol",), frozenset({("ix_t_price", ("price",), False)}))
    assert differences({"t": indexed}, {"t": base}) == ["t: index ('ix_t_price', ('price',), False) only in SQLite"]
