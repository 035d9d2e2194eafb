package import GRDB

/// The SQLite schema. A shipped migration is never edited, only followed by a new one.
package enum SQLiteSchema {
    package static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE delivery (
                        platform TEXT NOT NULL,
                        key TEXT NOT NULL,
                        receivedAt INTEGER NOT NULL,
                        PRIMARY KEY (platform, key)
                    );
                    CREATE TABLE draft (
                        id TEXT PRIMARY KEY,
                        requester TEXT NOT NULL,
                        question TEXT NOT NULL,
                        target TEXT,
                        createdAt INTEGER NOT NULL,
                        expiresAt INTEGER NOT NULL,
                        state TEXT NOT NULL,
                        version INTEGER NOT NULL,
                        text TEXT NOT NULL,
                        sources TEXT NOT NULL,
                        riskFlags TEXT NOT NULL,
                        publishVersion INTEGER,
                        publishHash TEXT,
                        publishAt INTEGER,
                        rejectionReason TEXT,
                        postedMessageID TEXT,
                        postedPermalink TEXT,
                        postedAt INTEGER,
                        updatedAt INTEGER NOT NULL
                    );
                    CREATE INDEX draft_requester ON draft(requester, createdAt);
                    CREATE INDEX draft_state ON draft(state);
                    CREATE TABLE draftVersion (
                        draftID TEXT NOT NULL REFERENCES draft(id),
                        version INTEGER NOT NULL,
                        text TEXT NOT NULL,
                        contentHash TEXT NOT NULL,
                        createdAt INTEGER NOT NULL,
                        PRIMARY KEY (draftID, version)
                    );
                    CREATE TABLE approval (
                        draftID TEXT NOT NULL REFERENCES draft(id),
                        version INTEGER NOT NULL,
                        approver TEXT NOT NULL,
                        contentHash TEXT NOT NULL,
                        at INTEGER NOT NULL,
                        PRIMARY KEY (draftID, version, approver)
                    );
                    CREATE TABLE job (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        kind TEXT NOT NULL,
                        payload TEXT NOT NULL,
                        draftID TEXT,
                        status TEXT NOT NULL DEFAULT 'pending',
                        runAt INTEGER NOT NULL,
                        lockedUntil INTEGER,
                        attempts INTEGER NOT NULL DEFAULT 0,
                        lastError TEXT,
                        createdAt INTEGER NOT NULL
                    );
                    CREATE INDEX job_due ON job(status, runAt);
                    CREATE TABLE outbox (
                        draftID TEXT PRIMARY KEY REFERENCES draft(id),
                        version INTEGER NOT NULL,
                        status TEXT NOT NULL,
                        attempts INTEGER NOT NULL,
                        messageID TEXT,
                        permalink TEXT,
                        claimedAt INTEGER NOT NULL,
                        postedAt INTEGER
                    );
                    CREATE TABLE audit_log (
                        seq INTEGER PRIMARY KEY,
                        at INTEGER NOT NULL,
                        kind TEXT NOT NULL,
                        platform TEXT,
                        actor TEXT,
                        draft_id TEXT,
                        detail TEXT NOT NULL,
                        prev_hash TEXT NOT NULL,
                        hash TEXT NOT NULL
                    );
                    CREATE INDEX audit_log_draft ON audit_log(draft_id);
                    CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
                        BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
                    CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
                        BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
                    """
            )
        }
        migrator.registerMigration("v2") { db in
            try db.execute(
                sql: """
                    ALTER TABLE outbox ADD COLUMN contentHash TEXT;
                    ALTER TABLE outbox ADD COLUMN approver TEXT;
                    CREATE TABLE reviewer (
                        draftID TEXT NOT NULL REFERENCES draft(id),
                        person TEXT NOT NULL,
                        version INTEGER NOT NULL,
                        PRIMARY KEY (draftID, person, version)
                    );
                    CREATE INDEX reviewer_person ON reviewer(person);
                    CREATE TRIGGER audit_log_extends_chain BEFORE INSERT ON audit_log
                    WHEN NEW.seq IS NOT COALESCE((SELECT MAX(seq) FROM audit_log), 0) + 1
                        OR NEW.prev_hash IS NOT COALESCE(
                            (SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1),
                            '0000000000000000000000000000000000000000000000000000000000000000')
                    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: an entry must extend the chain'); END;
                    """
            )
        }
        migrator.registerMigration("v3") { db in
            try db.execute(
                sql: """
                    ALTER TABLE draft ADD COLUMN risks TEXT NOT NULL DEFAULT '[]';
                    ALTER TABLE draft ADD COLUMN redactions TEXT NOT NULL DEFAULT '[]';
                    """
            )
        }
        migrator.registerMigration("v4") { db in
            // Listing drafts by state newest first (`/drafts`, the TTL sweep, the soak's driver) read every draft in
            // those states and sorted them; with (state, createdAt) it reads only the page it returns.
            try db.execute(sql: "CREATE INDEX draft_state_created ON draft(state, createdAt)")
        }
        migrator.registerMigration("v5") { db in
            // draft(state) is the first column of draft_state_created: every lookup it served, that one serves, and
            // each new draft was written into both.
            try db.execute(sql: "DROP INDEX draft_state")
        }
        migrator.registerMigration("v6") { db in
            // One schema for both stores: SQLite's tables and columns take PostgreSQL's snake_case names, so the
            // storage kernel (AirlockStoreKit) writes one SQL text for both. Indexes and data follow the rename.
            try db.execute(
                sql: """
                    ALTER TABLE draftVersion RENAME TO draft_version;
                    ALTER TABLE delivery RENAME COLUMN receivedAt TO received_at;
                    ALTER TABLE draft RENAME COLUMN createdAt TO created_at;
                    ALTER TABLE draft RENAME COLUMN expiresAt TO expires_at;
                    ALTER TABLE draft RENAME COLUMN riskFlags TO risk_flags;
                    ALTER TABLE draft RENAME COLUMN publishVersion TO publish_version;
                    ALTER TABLE draft RENAME COLUMN publishHash TO publish_hash;
                    ALTER TABLE draft RENAME COLUMN publishAt TO publish_at;
                    ALTER TABLE draft RENAME COLUMN rejectionReason TO rejection_reason;
                    ALTER TABLE draft RENAME COLUMN postedMessageID TO posted_message_id;
                    ALTER TABLE draft RENAME COLUMN postedPermalink TO posted_permalink;
                    ALTER TABLE draft RENAME COLUMN postedAt TO posted_at;
                    ALTER TABLE draft RENAME COLUMN updatedAt TO updated_at;
                    ALTER TABLE draft_version RENAME COLUMN draftID TO draft_id;
                    ALTER TABLE draft_version RENAME COLUMN contentHash TO content_hash;
                    ALTER TABLE draft_version RENAME COLUMN createdAt TO created_at;
                    ALTER TABLE approval RENAME COLUMN draftID TO draft_id;
                    ALTER TABLE approval RENAME COLUMN contentHash TO content_hash;
                    ALTER TABLE job RENAME COLUMN draftID TO draft_id;
                    ALTER TABLE job RENAME COLUMN runAt TO run_at;
                    ALTER TABLE job RENAME COLUMN lockedUntil TO locked_until;
                    ALTER TABLE job RENAME COLUMN lastError TO last_error;
                    ALTER TABLE job RENAME COLUMN createdAt TO created_at;
                    ALTER TABLE outbox RENAME COLUMN draftID TO draft_id;
                    ALTER TABLE outbox RENAME COLUMN messageID TO message_id;
                    ALTER TABLE outbox RENAME COLUMN claimedAt TO claimed_at;
                    ALTER TABLE outbox RENAME COLUMN postedAt TO posted_at;
                    ALTER TABLE outbox RENAME COLUMN contentHash TO content_hash;
                    ALTER TABLE reviewer RENAME COLUMN draftID TO draft_id;
                    """
            )
        }
        return migrator
    }
}
