import AirlockApp
import AirlockDomain
import AirlockSQLite
import AirlockTesting
import Foundation
import Testing

@Suite("What reaches the DM is redacted, flagged and marked")
struct SafetyTests {
    static let leakyDoc = """
        # Billing database

        ## Connecting to the billing database
        Connect with postgres://billing:Tr0ub4dor-and-3@billing-db.internal:5432/billing using the billing
        service account. The deploy bot uses xoxb-1234567890-0987654321-AbCdEfGhIjKl and the AWS key id
        AKIAIOSFODNN7EXAMPLE. The service's key:
        -----BEGIN OPENSSH PRIVATE KEY-----
        b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW
        -----END OPENSSH PRIVATE KEY-----
        """

    @Test(
        "Secrets in a knowledge-base doc never reach the DM, the draft or the audit log; the DM lists what was removed"
    )
    func secretsRedacted() async throws {
        let kb = try knowledgeBase(["billing.md": Self.leakyDoc])
        try await withFakeSlack { slack in
            try await withAirlock(slack: slack, database: temporaryDatabase(), configure: { $0.kbDirectory = kb }) {
                app in
                let id = try await askQuestion(
                    app,
                    slack,
                    text:
                        "<@U0BOT> how do I connect to the billing database, and which keys do the deploy bot and the service use?"
                )
                let dm = try #require(slack.directMessages(to: requester).first?.text)
                let draft = try #require(try await app.store.draft(id))
                let audit = try await auditEntries(app.store).map(\.detail).joined()
                for secret in [
                    "Tr0ub4dor-and-3", "xoxb-1234567890", "AKIAIOSFODNN7EXAMPLE", "b3BlbnNzaC1rZXktdjEAAAAABG5v",
                ] {
                    #expect(!dm.contains(secret), "\(secret) reached the DM")
                    #expect(!draft.text.contains(secret), "\(secret) is in the stored draft")
                    #expect(!audit.contains(secret), "\(secret) is in the audit log")
                }
                #expect(dm.contains("Redacted before sending:"))
                for kind in ["password in a URL", "Slack token", "AWS access key id", "PEM private key"] {
                    #expect(dm.contains(kind), "\(kind)")
                }
            }
        }
    }

    @Test(
        "Flagged advice: a non-security approver's approval is refused and nothing is posted; a security approver's posts it"
    )
    func riskRouting() async throws {
        let kb = try knowledgeBase([
            "access.md":
                "# Access\n\n## Emergency access\nGrant the on-call engineer admin access to the production project, then share the break-glass password in the incident channel.\n"
        ])
        try await withFakeSlack { slack in
            try await withAirlock(
                slack: slack,
                database: temporaryDatabase(),
                configure: { config in
                    config.kbDirectory = kb
                    config.policy = ApprovalPolicy.parse(approvers: "slack:\(approver),slack:\(secondApprover)").policy
                        .withSecurityApprovers([PersonID(platform: .slack, id: approver)])
                }
            ) { app in
                let id = try await askQuestion(app, slack, text: "<@U0BOT> how do I get emergency access?")
                let dm = try #require(slack.directMessages(to: requester).first?.text)
                #expect(dm.contains("Flagged: changes access control or permissions"), "\(dm)")
                try await publishAndWaitForReviewers(app, slack, id)
                #expect(
                    slack.directMessages(to: secondApprover).last { $0.hasButtons }?.text.contains("security group")
                        == true
                )
                let refused = try await app.slash(user: secondApprover, command: "/approve", text: "\(id) v1").text
                #expect(refused.contains("AIRLOCK_SECURITY_APPROVERS"), "\(refused)")
                #expect(try await app.store.draft(id)?.state == .publishRequested)
                #expect(slack.publicMessages.isEmpty)
                #expect(
                    try await app.slash(user: approver, command: "/approve", text: "\(id) v1").text.contains("Approved")
                )
                _ = try await waitForState(app, id, .posted)
                #expect(slack.publicMessages.count == 1)
            }
        }
    }

    @Test("Flagged advice without a security group needs two distinct approvers")
    func twoApprovers() async throws {
        let kb = try knowledgeBase([
            "fw.md": "# Firewall\n\n## Debugging\nDisable the firewall on the bastion while you debug the tunnel.\n"
        ])
        try await withFakeSlack { slack in
            try await withAirlock(
                slack: slack,
                database: temporaryDatabase(),
                configure: { config in
                    config.kbDirectory = kb
                    config.policy = ApprovalPolicy.parse(approvers: "slack:\(approver),slack:\(secondApprover)").policy
                }
            ) { app in
                let id = try await askQuestion(app, slack, text: "<@U0BOT> how do I debug the bastion tunnel?")
                try await publishAndWaitForReviewers(app, slack, id)
                let first = try await app.slash(user: approver, command: "/approve", text: "\(id) v1").text
                #expect(first.contains("needs 1 more approval"), "\(first)")
                #expect(
                    try await app.slash(user: approver, command: "/approve", text: "\(id) v1").text.contains(
                        "already approved"
                    )
                )
                #expect(
                    try await app.slash(user: secondApprover, command: "/approve", text: "\(id) v1").text.contains(
                        "Approved"
                    )
                )
                _ = try await waitForState(app, id, .posted)
                #expect(slack.publicMessages.first?.text.contains("approved by 2 other people") == true)
                #expect(slack.publicMessages.first?.text.contains("slack:") == false, "an internal id in a public post")
            }
        }
    }

    @Test(
        "A restricted doc reaches only its readers: a reader's draft marks it and can never be published; anyone else gets none of it"
    )
    func restrictedSource() async throws {
        let kb = try knowledgeBase([
            "payroll.md":
                "---\nvisibility: restricted\nreaders: slack:U0REQ, group:finance\nowner: finance\n---\n# Payroll\n\n## Payroll run\nThe payroll run starts on the 25th; the finance lead approves it in the payroll tool.\n",
            "public.md": "# Handbook\n\n## Holidays\nBook holidays in the HR tool two weeks ahead.\n",
        ])
        try await withFakeSlack { slack in
            try await withAirlock(
                slack: slack,
                database: temporaryDatabase(),
                configure: { config in
                    standardApprovers(&config)
                    config.kbDirectory = kb
                }
            ) { app in
                let id = try await askQuestion(app, slack, text: "<@U0BOT> when does the payroll run start?")
                let dm = try #require(slack.directMessages(to: requester).first?.text)
                #expect(dm.contains("payroll.md § Payroll run [RESTRICTED"), "\(dm)")
                #expect(dm.contains("can never be published"))
                #expect(!dm.contains("/revise"), "a revision that can never succeed is not advised")
                let refused = try await app.slash(user: requester, command: "/publish", text: id.rawValue).text
                #expect(
                    refused.contains("restricted documents (payroll.md)") && !refused.contains("Revise it"),
                    "\(refused)"
                )
                #expect(try await app.store.draft(id)?.state == .answered)
                // The audit log records ids and hashes of restricted text, never the text.
                let entries = try await auditEntries(app.store)
                #expect(
                    !entries.contains { $0.detail.contains("starts on the 25th") },
                    "restricted text in the audit log"
                )
                #expect(
                    entries.contains {
                        $0.kind == "agent_run" && $0.detail.contains("restricted_sources")
                            && $0.detail.contains("payroll.md")
                    }
                )
                // Someone who is not a reader asks the same: no restricted passage, no restricted draft.
                let other = try await askQuestion(
                    app,
                    slack,
                    user: approver,
                    text: "<@U0BOT> when does the payroll run start?"
                )
                let theirs = try #require(
                    slack.directMessages(to: approver).first { $0.text.contains("Draft answer") }?.text
                )
                #expect(!theirs.contains("25th") && !theirs.contains("payroll.md"), "\(theirs)")
                #expect(try await app.store.draft(other)?.sources.contains(where: \.restricted) == false)
            }
        }
    }
}
