"""The PostgreSQL journal's schema, as versioned migrations.

``MIGRATIONS[n]`` brings a database at version ``n - 1`` to ``n``; a new database starts at 0.
Each is applied in one transaction with its version bump, under an advisory lock, so daemons
starting together migrate once. Add a version for every change; never edit a released one.
The columns are those of the SQLite journal (``floradrop.journal.sqlite``) plus ``owner``.
"""

from __future__ import annotations

from typing import Final

SCHEMA_VERSION: Final = 1

MIGRATIONS: Final[dict[int, str]] = {
    1: """
    CREATE TABLE jobs (
        id                BIGSERIAL PRIMARY KEY,
        job_key           TEXT NOT NULL,
        attempt           INTEGER NOT NULL DEFAULT 0,
        folder            TEXT NOT NULL,
        rel_path          TEXT NOT NULL,
        source_path       TEXT NOT NULL,
        size              BIGINT NOT NULL,
        mtime_ns          BIGINT NOT NULL,
        content_hash      TEXT NOT NULL,
        rule_index        INTEGER NOT NULL,
        technique         TEXT NOT NULL,
        run_cost          DOUBLE PRECISION,
        state             TEXT NOT NULL,
        idempotency_key   TEXT,
        assets            TEXT NOT NULL DEFAULT '{}',
        inputs            TEXT NOT NULL DEFAULT '[]',
        run_id            TEXT,
        poll_url          TEXT,
        progress          DOUBLE PRECISION NOT NULL DEFAULT 0,
        submit_started_at DOUBLE PRECISION,
        submitted_at      DOUBLE PRECISION,
        completed_at      DOUBLE PRECISION,
        cost              DOUBLE PRECISION,
        outputs           TEXT NOT NULL DEFAULT '[]',
        filed_path        TEXT,
        error_code        TEXT,
        error_message     TEXT,
        error_hint        TEXT,
        report_path       TEXT,
        note              TEXT,
        created_at        DOUBLE PRECISION NOT NULL,
        updated_at        DOUBLE PRECISION NOT NULL,
        finished_at       DOUBLE PRECISION,
        day               TEXT,
        reserved          DOUBLE PRECISION,
        approval          TEXT,
        owner             TEXT
    );
    -- one drop (content + rule, which includes the folder's name) is one job per attempt,
    -- whichever member admits it first
    CREATE UNIQUE INDEX jobs_intake ON jobs(job_key, attempt);
    CREATE INDEX jobs_state ON jobs(state);
    CREATE INDEX jobs_key ON jobs(job_key);
    CREATE INDEX jobs_source ON jobs(source_path);
    CREATE INDEX jobs_run ON jobs(run_id);
    CREATE INDEX jobs_owner ON jobs(owner, state);
    CREATE INDEX jobs_folder_state ON jobs(folder, state);
    CREATE INDEX jobs_folder_finished ON jobs(folder, finished_at);
    CREATE INDEX jobs_technique ON jobs(technique);
    CREATE INDEX jobs_created ON jobs(created_at);
    CREATE INDEX jobs_finished ON jobs(state, finished_at);
    CREATE INDEX jobs_spend ON jobs(day, folder, technique, cost);
    CREATE TABLE retry_requests (path TEXT PRIMARY KEY, requested_at DOUBLE PRECISION NOT NULL);
    CREATE TABLE fixed_assets (
        path TEXT NOT NULL, content_hash TEXT NOT NULL, workspace_id TEXT NOT NULL,
        asset_id TEXT NOT NULL, url TEXT NOT NULL, uploaded_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (path, content_hash, workspace_id)
    );
    CREATE TABLE members (
        id           TEXT PRIMARY KEY,
        host         TEXT NOT NULL,
        version      TEXT NOT NULL,
        pid          INTEGER,
        started_at   DOUBLE PRECISION NOT NULL,
        heartbeat_at DOUBLE PRECISION NOT NULL,
        lease_until  DOUBLE PRECISION NOT NULL
    )
    """,
}
