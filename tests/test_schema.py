"""The migrated database must keep the seed's schema (tests/seed_schema.sql) intact."""

import re
import sqlite3
from pathlib import Path

import pytest
from django.db import IntegrityError, connection, transaction

pytestmark = [
    pytest.mark.django_db,
    # CI runs these in its SQLite pass and deselects them in its PostgreSQL pass.
    pytest.mark.sqlite_schema,
    pytest.mark.skipif(connection.vendor != "sqlite", reason="the seed's DDL is SQLite"),
]

SEED = Path(__file__).with_name("seed_schema.sql").read_text()
TABLES = ["video_creation_jobs", "video_resources", "video_creation_drafts"]
# Django's SQLite backend declares timestamps "datetime" and stores ISO-8601 text in
# them, which the seed declares TEXT; these are the only type differences allowed.
TIMESTAMPS = {"created_at", "completed_at", "updated_at"}


def _seed_db():
    db = sqlite3.connect(":memory:")
    db.executescript(SEED)
    return db


def _ours():
    """Return a raw cursor on the migrated test database."""
    connection.ensure_connection()
    return connection.connection.cursor()


def _affinity(declared):
    """Return SQLite's type affinity for a declared column type (sqlite.org/datatype3)."""
    declared = declared.upper()
    if "INT" in declared:
        return "INTEGER"
    if any(word in declared for word in ("CHAR", "CLOB", "TEXT")):
        return "TEXT"
    return "NUMERIC"


def _columns(cursor, table):
    rows = cursor.execute(f"PRAGMA table_info({table})").fetchall()
    return {name: (kind, notnull, default, pk) for _cid, name, kind, notnull, default, pk in rows}


def _indexes(cursor, table):
    """Return {name: [(column, descending)]} for the table's named indexes."""
    result = {}
    for row in cursor.execute(f"PRAGMA index_list({table})").fetchall():
        name = row[1]
        if name.startswith("sqlite_autoindex"):
            continue
        info = cursor.execute(f"PRAGMA index_xinfo({name})").fetchall()
        result[name] = [(col[2], bool(col[3])) for col in info if col[5]]
    return result


@pytest.mark.parametrize("table", TABLES)
def test_every_seed_column_exists_with_its_type_nullability_default_and_key(table):
    seed = _columns(_seed_db().cursor(), table)
    ours = _columns(_ours(), table)
    for name, (kind, notnull, default, pk) in seed.items():
        assert name in ours, f"{table}.{name} is missing"
        our_kind, our_notnull, our_default, our_pk = ours[name]
        if name in TIMESTAMPS:
            assert our_kind.lower() == "datetime", f"{table}.{name}: {our_kind}"
        else:
            assert _affinity(our_kind) == _affinity(kind), f"{table}.{name}: {our_kind} vs {kind}"
        # SQLite reports a TEXT PRIMARY KEY as nullable; Django makes it NOT NULL.
        assert our_notnull == notnull or (pk and our_notnull), f"{table}.{name} nullability"
        assert our_default == default, f"{table}.{name} default {our_default} vs {default}"
        assert bool(our_pk) == bool(pk), f"{table}.{name} primary key"


@pytest.mark.parametrize("table", TABLES)
def test_every_seed_index_exists_on_the_same_columns_and_order(table):
    seed = _indexes(_seed_db().cursor(), table)
    ours = _indexes(_ours(), table)
    assert seed, "the seed defines indexes on every table"
    for name, columns in seed.items():
        assert ours.get(name) == columns, f"index {name}: {ours.get(name)} vs {columns}"


def test_created_at_index_is_descending():
    ours = _indexes(_ours(), "video_creation_jobs")
    assert ours["idx_video_creation_jobs_created_at"] == [("created_at", True)]


def test_resources_cascade_from_jobs_in_the_database():
    keys = _ours().execute("PRAGMA foreign_key_list(video_resources)").fetchall()
    seed = _seed_db().execute("PRAGMA foreign_key_list(video_resources)").fetchall()
    # (table, from, to, on_update, on_delete) of the seed's one foreign key.
    expected = [(row[2], row[3], row[4], row[6]) for row in seed]
    assert expected == [("video_creation_jobs", "job_id", "id", "CASCADE")]
    assert expected[0] in [(row[2], row[3], row[4], row[6]) for row in keys]


def _check_values(sql):
    match = re.search(r"CHECK\s*\(\s*\"?(\w+)\"?\s+IN\s*\(([^)]*)\)", sql)
    return match.group(1), sorted(v.strip().strip("'") for v in match.group(2).split(","))


@pytest.mark.parametrize(
    ("table", "column"), [("video_creation_jobs", "status"), ("video_resources", "type")]
)
def test_check_constraints_allow_exactly_the_seeds_values(table, column):
    seed_sql = (
        _seed_db().execute("SELECT sql FROM sqlite_master WHERE name = ?", [table]).fetchone()[0]
    )
    our_sql = _ours().execute("SELECT sql FROM sqlite_master WHERE name = ?", [table]).fetchone()[0]
    assert _check_values(our_sql) == _check_values(seed_sql)
    assert _check_values(our_sql)[0] == column


def test_database_refuses_a_status_outside_the_seeds_list(user):
    from jobs.models import VideoCreationJob
    from tests.factories import make_job

    job = make_job(user)
    with pytest.raises(IntegrityError), transaction.atomic():
        VideoCreationJob.objects.filter(pk=job.pk).update(status="paused")


def test_draft_names_are_unique_per_owner_instead_of_globally():
    """The one deliberate change: the seed's UNIQUE(name) became UNIQUE(owner_id, name)."""
    raw = _ours()
    uniques = [
        [col[2] for col in raw.execute(f"PRAGMA index_info({row[1]})").fetchall()]
        for row in raw.execute("PRAGMA index_list(video_creation_drafts)").fetchall()
        if row[2]
    ]
    assert ["owner_id", "name"] in uniques
    assert ["name"] not in uniques
