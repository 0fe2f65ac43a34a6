"""A PostgreSQL database's schema as the server itself describes it (SPEC §8a, PostgreSQL side).

Every object anyone created in the database is found generically: each system catalog's rows
with an oid at or above ``FirstNormalObjectId`` (16384; what initdb and ``template0`` bring is
below it), named by ``pg_identify_object`` — so a planted schema, function, operator, cast,
rule, policy, event trigger or extension is an object like any other. The kinds that carry
behaviour also carry their definition as the server prints it (``pg_get_functiondef``,
``pg_get_triggerdef`` with whether the trigger is enabled, ``pg_get_indexdef``,
``pg_get_constraintdef`` with whether it was validated, ``pg_get_viewdef``, a table's columns
with their types, NOT NULL, defaults and collations, row security and persistence), so a
changed body or a disabled append-only trigger differs too. Oids differ between databases and
are never part of what is compared.
"""

from __future__ import annotations

import asyncpg

from core.backups.ports import SchemaObject

FIRST_NORMAL_OID = 16384

# Every catalog whose rows are objects a database's user can create (pg_attrdef: defaults).
_CATALOGS = (
    "pg_namespace",
    "pg_class",
    "pg_attrdef",
    "pg_constraint",
    "pg_trigger",
    "pg_rewrite",
    "pg_policy",
    "pg_proc",
    "pg_type",
    "pg_operator",
    "pg_opclass",
    "pg_opfamily",
    "pg_cast",
    "pg_collation",
    "pg_conversion",
    "pg_language",
    "pg_extension",
    "pg_event_trigger",
    "pg_foreign_data_wrapper",
    "pg_foreign_server",
    "pg_user_mapping",
    "pg_publication",
    "pg_statistic_ext",
    "pg_transform",
    "pg_am",
    "pg_ts_config",
    "pg_ts_dict",
    "pg_ts_parser",
    "pg_ts_template",
    "pg_default_acl",
)

# The definition of each kind of object that has one, by catalog (``o`` is the catalog's row).
_DEFINITIONS = {
    "pg_class": (
        "CASE WHEN o.relkind IN ('v', 'm') THEN pg_get_viewdef(o.oid)"
        " WHEN o.relkind IN ('r', 'p', 'f') THEN concat_ws(' | ',"
        " (SELECT string_agg(concat_ws(' ', quote_ident(a.attname),"
        " format_type(a.atttypid, a.atttypmod),"
        " CASE WHEN a.attcollation <> 0 THEN 'COLLATE ' || a.attcollation::regcollation::text END,"
        " CASE WHEN a.attnotnull THEN 'NOT NULL' END,"
        " CASE WHEN a.attidentity <> '' THEN 'IDENTITY ' || a.attidentity::text END,"
        " CASE WHEN a.attgenerated <> '' THEN 'GENERATED' END,"
        " (SELECT 'DEFAULT ' || pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d"
        "  WHERE d.adrelid = a.attrelid AND d.adnum = a.attnum)), ', ' ORDER BY a.attnum)"
        " FROM pg_attribute a WHERE a.attrelid = o.oid AND a.attnum > 0"
        " AND NOT a.attisdropped),"
        " 'persistence ' || o.relpersistence::text,"
        " CASE WHEN o.relrowsecurity THEN 'ROW LEVEL SECURITY' END,"
        " CASE WHEN o.relforcerowsecurity THEN 'FORCE ROW LEVEL SECURITY' END,"
        " array_to_string(o.reloptions, ','))"
        " WHEN o.relkind = 'S' THEN (SELECT concat_ws(' ', s.seqtypid::regtype, s.seqstart,"
        " s.seqincrement, s.seqmax, s.seqmin, s.seqcache, s.seqcycle) FROM pg_sequence s"
        " WHERE s.seqrelid = o.oid)"
        " ELSE o.relkind::text END"
    ),
    "pg_attrdef": "pg_get_expr(o.adbin, o.adrelid)",
    "pg_constraint": "pg_get_constraintdef(o.oid) || CASE WHEN o.convalidated THEN ''"
    " ELSE ' NOT VALID' END",
    "pg_trigger": "pg_get_triggerdef(o.oid) || ' enabled ' || o.tgenabled::text",
    "pg_rewrite": "pg_get_ruledef(o.oid) || ' enabled ' || o.ev_enabled::text",
    "pg_policy": "concat_ws(' ', o.polcmd, o.polpermissive, o.polroles::text,"
    " pg_get_expr(o.polqual, o.polrelid), pg_get_expr(o.polwithcheck, o.polrelid))",
    "pg_proc": "CASE WHEN o.prokind IN ('f', 'p') THEN pg_get_functiondef(o.oid)"
    " ELSE o.prokind::text || ' ' || o.prosrc END",
    "pg_event_trigger": "concat_ws(' ', o.evtevent, o.evtfoid::regprocedure, o.evtenabled,"
    " o.evttags::text)",
    "pg_extension": "o.extversion",
}


# What the server makes by itself, named after oids: TOAST tables (and their indexes and types)
# and the internal triggers behind each foreign key (the constraint itself is compared).
_SKIP = {
    "pg_class": " AND o.relnamespace <> 'pg_toast'::regnamespace",
    "pg_type": " AND o.typnamespace <> 'pg_toast'::regnamespace",
    "pg_trigger": " AND NOT o.tgisinternal",
}


async def catalog_objects(conn: asyncpg.Connection) -> frozenset[SchemaObject]:
    """Every object created in the database ``conn`` is connected to (see the module), read in
    one snapshot."""
    found: set[SchemaObject] = set()
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        for catalog in _CATALOGS:
            if await conn.fetchval("SELECT to_regclass($1)", f"pg_catalog.{catalog}") is None:
                continue  # not in this server's version
            definition = _DEFINITIONS.get(catalog, "''")
            rows = await conn.fetch(
                f"SELECT i.type, i.identity, COALESCE({definition}, '') AS sql"  # noqa: S608
                f" FROM pg_catalog.{catalog} o,"
                f" LATERAL pg_identify_object('pg_catalog.{catalog}'::regclass, o.oid, 0) i"
                f" WHERE o.oid >= $1{_SKIP.get(catalog, '')}",
                FIRST_NORMAL_OID,
            )
            for row in rows:
                sql = " ".join(str(row["sql"]).split())
                found.add(SchemaObject(str(row["type"]), str(row["identity"]), "", sql))
    return frozenset(found)
