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
        ],
        // v2: the chain's head in a row of its own. Appenders lock it (`SELECT … FOR UPDATE` waits for the previous
        // appender and then reads what it committed): one round trip instead of an advisory lock and a head query.
        // A statement trigger checks each insert's entries against it and moves it.
        [
            "CREATE TABLE audit_head (id INT PRIMARY KEY CHECK (id = 1), seq BIGINT NOT NULL, hash TEXT NOT NULL)",
            """
            INSERT INTO audit_head (id, seq, hash)
            SELECT 1, COALESCE((SELECT max(seq) FROM audit_log), 0),
                COALESCE((SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1), repeat('0', 64))
            """,
            // One check per statement instead of per row: the rows a statement adds must continue the head without a
            // gap, each naming its predecessor's hash; then the head moves once.
            "DROP TRIGGER audit_log_extends_chain ON audit_log",
            "DROP FUNCTION airlock_audit_extends_chain()",
            """
            CREATE FUNCTION airlock_audit_extends_head() RETURNS trigger LANGUAGE plpgsql AS $$
            DECLARE head_seq BIGINT; head_hash TEXT; added_count BIGINT; last_seq BIGINT; last_hash TEXT;
            BEGIN
                SELECT seq, hash INTO head_seq, head_hash FROM audit_head WHERE id = 1 FOR UPDATE;
                SELECT count(*), max(seq) INTO added_count, last_seq FROM added;
                IF added_count = 0 THEN RETURN NULL; END IF;
                IF last_seq <> head_seq + added_count OR EXISTS (
                    SELECT 1 FROM added a LEFT JOIN added p ON p.seq = a.seq - 1
                    WHERE a.seq <= head_seq
                       OR NOT ((a.seq = head_seq + 1 AND a.prev_hash = head_hash) OR (p.seq IS NOT NULL AND a.prev_hash = p.hash)))
                THEN
                    RAISE EXCEPTION 'audit_log is append-only: an entry must extend the chain';
                END IF;
                SELECT hash INTO last_hash FROM added WHERE seq = last_seq;
                UPDATE audit_head SET seq = last_seq, hash = last_hash WHERE id = 1;
                RETURN NULL;
            END $$
            """,
            """
            CREATE TRIGGER audit_log_extends_head AFTER INSERT ON audit_log REFERENCING NEW TABLE AS added
                FOR EACH STATEMENT EXECUTE FUNCTION airlock_audit_extends_head()
            """,
        ],
    ]
}
