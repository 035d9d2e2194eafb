import AirlockApp
import AirlockDomain
import AirlockSQLite
import AirlockTesting
import Foundation
import Testing

let requester = "U0REQ"
let approver = "U0APP"
let secondApprover = "U0AP2"
let stranger = "U0STR"

/// Approvers for most tests: the requester is listed too, to prove self-approval is refused anyway. `approver` is
/// also the security approver (the default question is about rotating credentials, which is flagged advice).
func standardApprovers(_ config: inout AirlockConfig) {
    config.policy = ApprovalPolicy.parse(approvers: "slack:\(approver),slack:\(secondApprover),slack:\(requester)")
        .policy
        .withSecurityApprovers([PersonID(platform: .slack, id: approver)])
}

/// Mentions the bot as `user` and waits for the DM with the draft; returns the draft id.
func askQuestion(
    _ app: AirlockUnderTest,
    _ slack: FakeSlack,
    eventID: String = "Ev\(UUID().uuidString.prefix(8))",
    user: String = requester,
    text: String = "<@U0BOT> how do I rotate the database credentials?",
    ts: String = "1700000000.000100",
    threadTS: String? = nil
) async throws -> DraftID {
    let response = try await app.event(
        SlackEvents.mention(eventID: eventID, user: user, text: text, ts: ts, threadTS: threadTS)
    )
    #expect(response.status == 200)
    let arrived = await eventually(timeout: .seconds(30)) {
        slack.directMessages(to: user).contains { $0.text.contains("Draft answer") }
    }
    try #require(arrived, "the requester never got the draft by DM")
    let drafts = try await app.store.drafts(DraftFilter(requester: PersonID(platform: .slack, id: user)))
    return try #require(drafts.first?.id)
}

/// The requester's `/publish`, then waits until every listed approver other than the requester has the review
/// DM (so no DM is still in flight when a test scripts a fault for the public post).
func publishAndWaitForReviewers(_ app: AirlockUnderTest, _ slack: FakeSlack, _ id: DraftID) async throws {
    let reply = try await app.slash(user: requester, command: "/publish", text: id.rawValue).text
    try #require(reply.contains("Publish requested"), "\(reply)")
    let reviewed = await eventually {
        [approver, secondApprover].allSatisfy { user in
            slack.directMessages(to: user).contains { $0.text.contains("/approve \(id)") }
        }
    }
    try #require(reviewed, "the approvers never got the review DM")
    try #require(
        await waitShown(app, id, [approver, secondApprover]),
        "the review DMs were never recorded as delivered"
    )
}

/// Waits until the store records that each of `users` (Slack ids, or full `platform:id`) was delivered `version` (the
/// current one when nil) for review: an approver counts as shown a text only once its review DM was accepted.
func waitShown(_ app: AirlockUnderTest, _ id: DraftID, _ users: [String], version: Int? = nil) async -> Bool {
    await eventually {
        guard let draft = try? await app.store.draft(id) else { return false }
        let wanted = version ?? draft.version
        return users.allSatisfy { user in
            let person = PersonID(parsing: user) ?? PersonID(platform: .slack, id: user)
            return draft.reviewers[person]?.contains(wanted) == true
        }
    }
}

/// Waits until the draft reaches `state`.
func waitForState(_ app: AirlockUnderTest, _ id: DraftID, _ state: DraftState) async throws -> Draft {
    let reached = await eventually { (try? await app.store.draft(id))?.state == state }
    let draft = try #require(try await app.store.draft(id))
    try #require(reached, "draft stayed \(draft.state.rawValue), expected \(state.rawValue)")
    return draft
}

/// All audit entries, in order.
func auditEntries(_ store: any AirlockStore) async throws -> [AuditEntry] {
    let box = EntryBox()
    try await store.exportAudit(since: nil, draftID: nil) { box.append($0) }
    return box.entries
}

final class EntryBox: @unchecked Sendable {
    // Safe: only appended from inside one database read, then read after it returns.
    var entries: [AuditEntry] = []
    func append(_ entry: AuditEntry) { entries.append(entry) }
}

/// True once no job is pending or running (the queue is empty): nothing more is sent unless something new arrives.
/// A test proves a negative ("nothing was posted") after this, never after a sleep.
func settled(_ app: AirlockUnderTest, timeout: Duration = .seconds(20)) async -> Bool {
    await eventually(timeout: timeout) {
        do {
            return try await app.store.nextJobDue() == nil
        } catch {
            return false
        }
    }
}
