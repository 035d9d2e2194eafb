/// The sample internal-ops docs indexed when `AIRLOCK_KB_DIR` is not set, so the demo works offline.
public enum SampleKnowledgeBase {
    public static let documents: [KnowledgeDocument] = [
        KnowledgeDocument(
            path: "database-credential-rotation.md",
            text: """
                # Rotating database credentials

                ## When to rotate
                Rotate the application's PostgreSQL credentials every 90 days, immediately when someone with access leaves
                the team, and whenever a credential may have been exposed (pasted in chat, committed to git, printed in a log).

                ## How to rotate
                1. Create the new role password in the secrets manager under `db/app/next`; never paste it into chat or tickets.
                2. Run `opsctl db rotate --stage` to add the new password alongside the old one (dual-password window).
                3. Roll the application deployment so every pod reads `db/app/next`.
                4. Watch the `db_auth_failures_total` dashboard for 15 minutes; it must stay at zero.
                5. Run `opsctl db rotate --commit` to revoke the old password.

                ## If a credential leaked
                Treat it as an incident (see incident-response.md): rotate first, then investigate. Do not wait for the 90-day
                schedule and do not delete audit logs while investigating.
                """
        ),
        KnowledgeDocument(
            path: "incident-response.md",
            text: """
                # Incident response

                ## Declaring an incident
                Anyone may declare an incident in #incidents with `/incident declare <summary>`. Declare early: a false alarm
                costs minutes, a late declaration costs hours. The declarer is incident commander until they hand over.

                ## Severity levels
                SEV1: customer data exposed or full outage. SEV2: partial outage or degraded core feature. SEV3: internal
                tooling broken, no customer impact. SEV1 pages the on-call security engineer as well as the service owner.

                ## First thirty minutes
                Stabilise before you investigate: roll back the last change (see deploy-rollback.md), rotate any exposed
                credential, and post a status update every 30 minutes. Keep a timeline in the incident channel.

                ## After the incident
                Write a blameless postmortem within five working days. Action items get owners and due dates.
                """
        ),
        KnowledgeDocument(
            path: "deploy-rollback.md",
            text: """
                # Deploying and rolling back

                ## Normal deploys
                Merges to main deploy to staging automatically. Production deploys run from the release pipeline after a
                green staging smoke test; deploys are frozen on Fridays after 15:00 and during declared incidents.

                ## Rolling back
                Run `opsctl deploy rollback <service>` to return to the previous release; it takes about three minutes.
                Database migrations are forward-only: a rollback never reverts a migration, so every migration must be
                backward compatible with the previous release.

                ## Feature flags
                Prefer turning a feature flag off over a rollback when the change is behind a flag; flags apply in
                under a minute.
                """
        ),
        KnowledgeDocument(
            path: "access-requests.md",
            text: """
                # Access requests

                ## Requesting access
                Request production access through the access portal, naming the ticket that needs it. Access is granted
                for 8 hours by default and expires automatically. Access to customer data needs a second approver from
                the data-protection group.

                ## Break-glass access
                In a SEV1 the incident commander may use the break-glass role. Every break-glass session is recorded and
                reviewed by security the next working day.

                ## Offboarding
                When someone leaves, their manager files an offboarding ticket; IT removes SSO access the same day and the
                service owners rotate any shared credentials the person could read.
                """
        ),
        KnowledgeDocument(
            path: "backups-and-restore.md",
            text: """
                # Backups and restore

                ## What is backed up
                PostgreSQL takes a full backup nightly at 02:00 UTC plus continuous WAL archiving, kept for 35 days in a
                separate account. Object storage is versioned with a 30-day retention.

                ## Restoring a database
                Restores go to a new instance, never over the live database: `opsctl db restore --to-time <RFC3339>
                --target <new-instance>`. Verify row counts and a sample of recent records before pointing traffic at it.

                ## Restore drills
                The platform team runs a restore drill every quarter and records the time to restore; the target is
                under one hour for the main database.
                """
        ),
    ]
}
