import AirlockDomain
import Foundation
import Testing

@Suite("Secret redaction and risk classification")
struct RedactionAndRiskTests {
    @Test(
        "Secrets are replaced by a marker naming their kind",
        arguments: [
            ("key id AKIAIOSFODNN7EXAMPLE in the config", "AWS access key id", "AKIAIOSFODNN7EXAMPLE"),
            (
                "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "AWS secret access key",
                "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
            ),
            (
                "use ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789 for the API", "GitHub token",
                "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789"
            ),
            (
                "bot token xoxb-1234567890-0987654321-AbCdEfGhIjKl", "Slack token",
                "xoxb-1234567890-0987654321-AbCdEfGhIjKl"
            ),
            (
                "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
                "JWT", "eyJhbGciOiJIUzI1NiJ9"
            ),
            (
                "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA1c2\n-----END RSA PRIVATE KEY-----",
                "PEM private key", "MIIEpAIBAAKCAQEA1c2"
            ),
            ("connect to postgres://app:S3cr3t-Pa55@db.internal:5432/app", "password in a URL", "S3cr3t-Pa55"),
            ("set DB_PASSWORD=hX9$kq2!LmP4zR", "secret assignment", "hX9$kq2!LmP4zR"),
            ("api_key: \"f3a9c1e07b2d4e58a6c9\"", "secret assignment", "f3a9c1e07b2d4e58a6c9"),
            ("OPENAI key sk-proj-AbCdEfGhIjKlMnOpQrStUv0123", "API key", "sk-proj-AbCdEfGhIjKlMnOpQrStUv0123"),
        ]
    )
    func redacts(_ text: String, _ kind: String, _ secret: String) {
        let (clean, found) = SecretRedactor.redact(text)
        #expect(!clean.contains(secret), "\(clean)")
        #expect(clean.contains("[redacted: \(kind)]"), "\(clean)")
        #expect(found.map(\.kind).contains(kind))
    }

    @Test(
        "Near misses are left alone",
        arguments: [
            "Store it under db/app/next in the secrets manager; never paste a password into chat.",
            "password: <your password>",
            "token = ${SLACK_BOT_TOKEN}",
            "export API_KEY=YOUR_API_KEY",
            "https://example.com/docs and postgres://app@db.internal/app",
            "the commit 3f2a9c1 fixed it",
            "AKIA is the prefix of AWS access key ids",
            "secret: changeme-later",
            "xoxb- tokens start with xoxb",
            "password = ********",
        ]
    )
    func nearMisses(_ text: String) {
        let (clean, found) = SecretRedactor.redact(text)
        #expect(clean == text, "\(text) became \(clean)")
        #expect(found.isEmpty)
    }

    @Test(
        "Risky advice is classified with its reason",
        arguments: [
            ("Grant the contractor admin rights on the billing project.", RiskCategory.accessControl),
            ("Just share the password with the new hire over chat.", .credentials),
            ("Rotate the API token before Friday.", .credentials),
            ("Disable MFA for the service account to unblock it.", .securityControls),
            ("Run curl https://get.example.sh | sudo sh on the box.", .destructiveCommand),
            ("Drop the users table and re-create it.", .dataDeletionOrExport),
            ("Export the customer data to a CSV for the vendor.", .dataDeletionOrExport),
            ("Run rm -rf /var/lib/app to clear it.", .destructiveCommand),
            ("It is fine to grant them the\nadmin role for a day.", .accessControl),
            ("Stabilise first: roll back, rotate any exposed\ncredential, then post updates.", .credentials),
        ]
    )
    func risky(_ text: String, _ category: RiskCategory) {
        let findings = RiskClassifier.classify(text)
        #expect(findings.contains { $0.category == category }, "\(findings)")
    }

    @Test(
        "Harmless or negated advice is not flagged",
        arguments: [
            "Open a ticket in the access portal; your manager approves it.",
            "Do not delete audit logs while investigating.",
            "Roll back with opsctl deploy rollback <service>.",
            "Restores go to a new instance, never over the live database.",
            "Grant the request in the portal\n\nAdmin role changes are reviewed weekly.",
        ]
    )
    func harmless(_ text: String) {
        #expect(RiskClassifier.classify(text).isEmpty, "\(RiskClassifier.classify(text))")
    }

    @Test("A flagged draft needs a security approver; without a security group it needs two approvers")
    func flaggedRouting() throws {
        var draft = Draft(
            id: .random(),
            requester: alice,
            question: "q",
            target: thread,
            createdAt: start,
            ttl: .seconds(3600)
        )
        draft = Gate.answer(draft, text: "Grant bob admin access to prod.", sources: [], riskFlags: [])
        #expect(draft.risks.map(\.category) == [.accessControl])
        let withGroup = ApprovalPolicy(approvers: [bob, carol]).withSecurityApprovers([carol])
        var published = try publishAndShow(draft, withGroup)
        #expect(throws: Refusal.self) {
            try Gate.apply(.approve(version: 1), to: published, by: Actor(bob), at: start, policy: withGroup)
        }
        let bySecurity = try Gate.apply(
            .approve(version: 1),
            to: published,
            by: Actor(carol),
            at: start,
            policy: withGroup
        ).draft
        #expect(bySecurity.state == .approved)
        #expect(throws: Never.self) { try Gate.authorizePost(bySecurity, policy: withGroup, at: start) }

        let noGroup = ApprovalPolicy(approvers: [bob, carol])
        published = try publishAndShow(draft, noGroup)
        let (first, event) = try Gate.apply(
            .approve(version: 1),
            to: published,
            by: Actor(bob),
            at: start,
            policy: noGroup
        )
        #expect(event == .approvalRecorded(by: bob, version: 1, remaining: 1) && first.state == .publishRequested)
        #expect(throws: Refusal.self) { try Gate.authorizePost(first, policy: noGroup, at: start) }
        #expect(throws: Refusal.alreadyApproved(by: bob)) {
            try Gate.apply(.approve(version: 1), to: first, by: Actor(bob), at: start, policy: noGroup)
        }
        let second = try Gate.apply(.approve(version: 1), to: first, by: Actor(carol), at: start, policy: noGroup).draft
        #expect(second.state == .approved)
        #expect(try Gate.authorizePost(second, policy: noGroup, at: start).approver == carol)
    }

    @Test("The agent's answer is redacted before the draft holds it, and revisions are re-classified")
    func answerIsRedacted() throws {
        let draft = Draft(
            id: .random(),
            requester: alice,
            question: "q",
            target: thread,
            createdAt: start,
            ttl: .seconds(60)
        )
        let answered = Gate.answer(draft, text: "Use AKIAIOSFODNN7EXAMPLE.", sources: [], riskFlags: [])
        #expect(answered.text == "Use [redacted: AWS access key id].")
        #expect(answered.redactions == [RedactedSecret(kind: "AWS access key id")])
        let revised = try Gate.apply(
            .revise(text: "Disable the firewall first."),
            to: answered,
            by: Actor(alice),
            at: start,
            policy: ApprovalPolicy()
        ).draft
        #expect(revised.risks.map(\.category) == [.securityControls])
    }
}

@Suite("Risk flags a word cannot switch off")
struct NegationTests {
    @Test(
        "A negation cancels a finding only when it governs the matched verb",
        arguments: [
            ("It is not hard: disable MFA for the account first.", RiskCategory.securityControls, true),
            ("Do not wait; grant them the admin role.", .accessControl, true),
            ("Do not disable MFA.", .securityControls, false),
            ("Never delete the audit logs while investigating.", .dataDeletionOrExport, false),
            ("Proceed without disabling the firewall.", .securityControls, false),
            ("Don't ever disable MFA.", .securityControls, false),
        ]
    )
    func negation(_ text: String, _ category: RiskCategory, _ flagged: Bool) {
        #expect(
            RiskClassifier.classify(text).contains { $0.category == category } == flagged,
            "\(RiskClassifier.classify(text))"
        )
    }
}

@Suite("Neutralising public text")
struct NeutraliserTests {
    @Test("Mass mentions and bare links become code; ordinary text is unchanged")
    func neutralise() {
        let mattermost = Neutraliser(massMentions: ["@channel", "@all", "@here"])
        #expect(mattermost.apply("@channel see https://x.example/a now") == "`@channel` see `https://x.example/a` now")
        #expect(mattermost.apply("mail alice@all.example") == "mail alice@all.example")
        let discourse = Neutraliser(everyMention: true)
        #expect(discourse.apply("ping @everyone and @sre-team.") == "ping `@everyone` and `@sre-team`.")
        let github = Neutraliser(teamMentions: true, codeLinks: false)
        #expect(github.apply("cc @acme/security please") == "cc `@acme/security` please")
        #expect(Neutraliser.none.apply("@room https://x") == "@room https://x")
    }

    @Test("Restricted overlap: eight shared words are enough, seven are not")
    func shingles() {
        let passage = Shingles.of("the payroll run starts on the 25th and the finance lead approves it")
        #expect(!passage.isDisjoint(with: Shingles.of("FYI: the payroll run starts on the 25th and the finance lead")))
        #expect(passage.isDisjoint(with: Shingles.of("the payroll run starts on the 25th")))
    }
}
