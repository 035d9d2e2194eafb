import AirlockApp
import AirlockDomain
import AirlockTesting
import Foundation
import Testing

@Suite("Several replicas on one PostgreSQL")
struct ReplicaTests {
    @Test(
        "Two replicas, one database: deliveries and commands spread over both; every request answered once, every approved draft posted once, audit intact",
        .enabled(if: PostgresTesting.url != nil)
    )
    func twoReplicas() async throws {
        let database = try await PostgresTesting.freshDatabase()
        let users = (0..<12).map { "U0RP\($0)" }
        try await withFakeSlack { slack in
            try await withAirlock(slack: slack, database: database, configure: standardApprovers) { first in
                try await withAirlock(slack: slack, database: database, configure: standardApprovers) { second in
                    let replicas = [first, second]
                    for (n, user) in users.enumerated() {
                        let event = SlackEvents.mention(
                            eventID: "EvRep\(n)",
                            user: user,
                            text: "<@U0BOT> when do production deploys run?",
                            ts: String(format: "1700000000.%06d", n)
                        )
                        // Delivered to one replica, and Slack's retry lands on the other.
                        #expect(try await replicas[n % 2].event(event).status == 200)
                        #expect(try await replicas[(n + 1) % 2].event(event, retryNum: 1).status == 200)
                    }
                    let answered = await eventually(timeout: .seconds(20)) {
                        users.allSatisfy { user in
                            slack.directMessages(to: user).contains { $0.text.contains("Draft answer") }
                        }
                    }
                    #expect(answered, "not every mention was answered")
                    let drafts = try await first.store.drafts(DraftFilter(limit: 100))
                    #expect(drafts.count == users.count, "a redelivery on the other replica created a second draft")
                    for (n, draft) in drafts.enumerated() {
                        let publish = try await replicas[n % 2].slash(
                            user: draft.requester.id,
                            command: "/publish",
                            text: draft.id.rawValue
                        ).text
                        #expect(publish.contains("Publish requested"), "\(publish)")
                    }
                    // Both replicas' workers race for the publish jobs.
                    for (n, draft) in drafts.enumerated() {
                        let approve = try await replicas[(n + 1) % 2].slash(
                            user: approver,
                            command: "/approve",
                            text: "\(draft.id) v1"
                        ).text
                        #expect(approve.contains("Approved"), "\(approve)")
                    }
                    let posted = await eventually(timeout: .seconds(20)) {
                        (try? await first.store.drafts(DraftFilter(states: [.posted], limit: 100)).count) == users.count
                    }
                    #expect(posted)
                    #expect(await eventually { (try? await first.store.nextJobDue()) == Optional<Date>.none })
                    #expect(
                        slack.publicMessages.count == users.count,
                        "\(slack.publicMessages.count) posts for \(users.count) drafts"
                    )
                    for user in users {
                        #expect(
                            slack.directMessages(to: user).filter { $0.text.contains("Draft answer") }.count == 1,
                            "\(user) got the answer twice"
                        )
                    }
                    let markers = slack.publicMessages.compactMap(\.metadataJSON)
                    #expect(Set(markers).count == users.count, "a draft was posted twice")
                    guard case .intact = try await second.store.verifyAudit() else {
                        Issue.record("audit chain broken across replicas")
                        return
                    }
                }
            }
        }
    }
}
