/// The PostgreSQL schema, one array of statements per migration. A shipped migration is never edited.
enum PostgresSchema {
    static let migrations: [[String]] = [
        [
            "CREATE TABLE delivery (platform TEXT NOT NULL, key TEXT NOT NULL, received_at BIGINT NOT NULL, PRIMARY KEY (platform, key))",
            """
            CREATE TABLE draft (id TEXT PRIMARY KEY, requester TEXT NOT NULL, question TEXT NOT NULL, target TEXT,
                created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, state TEXT NOT NULL, version INT NOT NULL,
                text TEXT NOT NULL, sources TEXT NOT NULL, risk_flags TEXT NOT NULL, risks TEXT NOT NULL,
                redactions TEXT NOT NULL, publish_version INT, publish_hash TEXT, publish_at BIGINT,
                rejection_reason TEXT, posted_message_id TEXT, posted_permalink TEXT, posted_at BIGINT,
                updated_at BIGINT NOT NULL)
            """,
            "CREATE INDEX draft_requester ON draft (requester, created_at)",
            "CREATE INDEX draft_state ON draft (state, expires_at)",
            """
            CREATE TABLE draft_version (draft_id TEXT NOT NULL REFERENCES draft (id), version INT NOT NULL,
                text TEXT NOT NULL, content_hash TEXT NOT NULL, created_at BIGINT NOT NULL, PRIMARY KEY (draft_id, version))
            """,
            """
            CREATE TABLE approval (draft_id TEXT NOT NULL REFERENCES draft (id), version INT NOT NULL, approver TEXT NOT NULL,
                content_hash TEXT NOT NULL, at BIGINT NOT NULL, PRIMARY KEY (draft_id, version, approver))
            """,
            """
            CREATE TABLE reviewer (draft_id TEXT NOT NULL REFERENCES draft (id), person TEXT NOT NULL, version INT NOT NULL,
                PRIMARY KEY (draft_id, person, version))
            """,
            "CREATE INDEX reviewer_person ON reviewer (person)",
            """
            CREATE TABLE job (id BIGSERIAL PRIMARY KEY, kind TEXT NOT NULL, payload TEXT NOT NULL, draft_id TEXT,
                status TEXT NOT NULL DEFAULT 'pending', run_at BIGINT NOT NULL, locked_until BIGINT,
                attempts INT NOT NULL DEFAULT 0, last_error TEXT, created_at BIGINT NOT NULL)
            """,
            "CREATE INDEX job_due ON job (status, run_at)",
            """
            CREATE TABLE outbox (draft_id TEXT PRIMARY KEY REFERENCES draft (id), version INT NOT NULL, status TEXT NOT NULL,
                attempts INT NOT NULL, claimed_at BIGINT NOT NULL, content_hash TEXT, approver TEXT, message_id TEXT,
                permalink TEXT, posted_at BIGINT)
            """,
            """
            CREATE TABLE audit_log (seq BIGINT PRIMARY KEY, at BIGINT NOT NULL, kind TEXT NOT NULL, platform TEXT, actor TEXT,
                draft_id TEXT, detail TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL)
            """,
            "CREATE INDEX audit_log_draft ON audit_log (draft_id)",
            """
            CREATE FUNCTION airlock_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$
            """,
            """
            CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
                FOR EACH ROW EXECUTE FUNCTION airlock_audit_append_only()
            """,
            """
            CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
                FOR EACH STATEMENT EXECUTE FUNCTION airlock_audit_append_only()
            """,
            """
            CREATE FUNCTION airlock_audit_extends_chain() RETURNS trigger LANGUAGE plpgsql AS $$
            DECLARE head_seq BIGINT; head_hash TEXT;
            BEGIN
                SELECT seq, hash INTO head_seq, head_hash FROM audit_log ORDER BY seq DESC LIMIT 1;
                IF NOT FOUND THEN
                    head_seq := 0;
                    head_hash := repeat('0', 64);
                END IF;
                IF NEW.seq <> head_seq + 1 OR NEW.prev_hash <> head_hash THEN
                    RAISE EXCEPTION 'audit_log is append-only: an entry must extend the chain';
                END IF;
                RETURN NEW;
            END $$
            """,
            """
            CREATE TRIGGER audit_log_extends_chain BEFORE INSERT ON audit_log
                FOR EACH ROW EXECUTE FUNCTION airlock_audit_extends_chain()
            """,
        ]
    ]
}
