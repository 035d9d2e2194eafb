import AirlockApp
import AirlockDomain
import AirlockSQLite
import AirlockSlack
import AirlockTesting
import Foundation
import Testing

@Suite("The gated conversation on Slack, through real HTTP (on the in-memory store)")
struct SlackConversationTests {
    @Test("A mention is answered by DM to the requester only, with the commands to go on")
    func mentionGivesPrivateDM() async throws {
        try await withFakeSlack { slack in
            try await withAirlock(slack: slack, database: inMemoryDatabase, configure: standardApprovers) { app in
                let id = try await askQuestion(app, slack)
                let dm = try #require(slack.directMessages(to: requester).first)
                #expect(dm.text.contains("/publish \(id)"))
                #expect(dm.text.contains("/revise \(id) <text>"))
                #expect(dm.text.contains("/reject \(id)"))
                #expect(dm.text.contains("database-credential-rotation.md"))
                #expect(dm.text.contains("Risk flags"))
                #expect(dm.hasButtons)
                #expect(slack.publicMessages.isEmpty, "nothing may be written where others can see it")
                #expect(slack.calls("chat.postMessage").count == 1)
                #expect(slack.calls("conversations.open").first?.string("users") == requester)
            }
        }
    }

    @Test("A retried delivery (same event_id, X-Slack-Retry-Num) gets 200 and does nothing")
    func retryIsDeduplicated() async throws {
        try await withFakeSlack { slack in
            try await withAirlock(slack: slack, database: inMemoryDatabase) { app in
                let event = SlackEvents.mention(
                    eventID: "EvRetry1",
                    user: requester,
                    text: "<@U0BOT> restore a backup?"
                )
                #expect(try await app.event(event).status == 200)
                #expect(try await app.event(event, retryNum: 1).status == 200)
                #expect(try await app.event(event, retryNum: 2).status == 200)
                #expect(await eventually { slack.directMessages(to: requester).count == 1 })
                let quiet = await settled(app)
                #expect(quiet, "jobs still pending")
                #expect(slack.directMessages(to: requester).count == 1)
                #expect(try await app.store.drafts(DraftFilter()).count == 1)
                let duplicates = try await auditEntries(app.store).filter {
                    $0.detail.contains("\"outcome\":\"duplicate\"")
                }
                #expect(duplicates.count == 2)
                #expect(duplicates.allSatisfy { $0.detail.contains("\"retry_num\"") && $0.detail.contains("EvRetry1") })
            }
        }
    }

    @Test("The bot's own and other bots' messages are ignored")
    func botMessagesIgnored() async throws {
        try await withFakeSlack { slack in
            try await withAirlock(slack: slack, database: inMemoryDatabase) { app async throws in
                #expect(
                    try await app.event(SlackEvents.directMessage(eventID: "EvBot1", user: "U0BOT", text: "hello"))
                        .status == 200
                )
                #expect(
                    try await app.event(
                        SlackEvents.directMessage(eventID: "EvBot2", user: "U0X", text: "hi", botID: "B0OTHER")
                    )
                    .status == 200
                )
                let quiet = await settled(app)
                #expect(quiet, "jobs still pending")
                #expect(try await app.store.drafts(DraftFilter()).isEmpty)
                #expect(slack.calls("chat.postMessage").isEmpty)
            }
        }
    }

    @Test("A stranger's /publish is refused, told to them, and recorded")
    func strangerPublishRefused() async throws {
        try await withFakeSlack { slack in
            try await withAirlock(slack: slack, database: inMemoryDatabase, configure: standardApprovers) { app in
                let id = try await askQuestion(app, slack)
                let (text, response) = try await app.slash(user: stranger, command: "/publish", text: id.rawValue)
                #expect(response.status == 200)
                #expect(response.json["response_type"] as? String == "ephemeral")
                #expect(text.contains("Only the person who asked can publish"))
                #expect(try await app.store.draft(id)?.state == .answered)
                let refusals = try await auditEntries(app.store).filter { $0.kind == "refusal" }
                #expect(refusals.count == 1)
                #expect(refusals.first?.actor == "slack:\(stranger)")
                #expect(refusals.first?.detail.contains("not_requester") == true)
            }
        }
    }

    @Test("Self-approval is refused even when the requester is on the approver list")
    func selfApprovalRefused() async throws {
        try await withFakeSlack { slack in
            try await withAirlock(slack: slack, database: inMemoryDatabase, configure: standardApprovers) { app in
                let id = try await askQuestion(app, slack)
                #expect(
                    try await app.slash(user: requester, command: "/publish", text: id.rawValue).text.contains(
                        "Publish requested"
                    )
                )
                let (text, _) = try await app.slash(user: requester, command: "/approve", text: id.rawValue)
                #expect(text.contains("cannot approve"))
                let quiet = await settled(app)
                #expect(quiet, "jobs still pending")
                #expect(slack.publicMessages.isEmpty)
                #expect(try await app.store.draft(id)?.state == .publishRequested)
            }
        }
    }

    @Test("An approver who is not on AIRLOCK_APPROVERS is refused")
    func unlistedApproverRefused() async throws {
        try await withFakeSlack { slack in
            try await withAirlock(slack: slack, database: inMemoryDatabase, configure: standardApprovers) { app in
                let id = try await askQuestion(app, slack)
                _ = try await app.slash(user: requester, command: "/publish", text: id.rawValue)
                let (text, _) = try await app.slash(user: stranger, command: "/approve", text: id.rawValue)
                #expect(text.contains("may not approve"))
                let quiet = await settled(app)
                #expect(quiet, "jobs still pending")
                #expect(slack.publicMessages.isEmpty)
            }
        }
    }

    @Test("Publish + a second person's approval → exactly one threaded public post; approving twice changes nothing")
    func approvalPostsOnceInThread() async throws {
        try await withFakeSlack { slack in
            try await withAirlock(slack: slack, database: inMemoryDatabase, configure: standardApprovers) { app in
                let id = try await askQuestion(app, slack, ts: "1700000555.000200")
                try await publishAndWaitForReviewers(app, slack, id)
                #expect(
                    try await app.slash(user: approver, command: "/approve", text: id.rawValue).text.contains(
                        "Approved"
                    )
                )
                let posted = try await waitForState(app, id, .posted)
                #expect(slack.publicMessages.count == 1)
                let post = try #require(slack.publicMessages.first)
                #expect(post.channel == "C0001")
                #expect(post.threadTS == "1700000555.000200")
                #expect(
                    !post.text.contains("slack:\(requester)") && !post.text.contains("slack:\(approver)"),
                    "internal ids in a public post"
                )
                #expect(post.text.contains("reviewed and approved by a second person"))
                #expect(post.metadataJSON?.contains("airlock_publish") == true)
                #expect(post.metadataJSON?.contains(id.rawValue) == true)
                #expect(posted.posted?.permalink?.hasPrefix("https://example.slack.com/archives/C0001/") == true)
                // Both are told, with the link.
                #expect(
                    await eventually { slack.directMessages(to: requester).contains { $0.text.contains("now public") } }
                )
                // A second approval (same or another approver) never posts again.
                #expect(
                    try await app.slash(user: approver, command: "/approve", text: id.rawValue).text.contains("posted")
                )
                #expect(
                    !(try await app.slash(user: secondApprover, command: "/approve", text: id.rawValue).text.contains(
                        "Approved"
                    ))
                )
                let quiet = await settled(app)
                #expect(quiet, "jobs still pending")
                #expect(slack.publicMessages.count == 1)
            }
        }
    }

    @Test("Revising after /publish voids the pending approval; the revised text is what gets posted")
    func reviseVoidsApproval() async throws {
        try await withFakeSlack { slack in
            try await withAirlock(slack: slack, database: inMemoryDatabase, configure: standardApprovers) { app in
                let id = try await askQuestion(app, slack)
                _ = try await app.slash(user: requester, command: "/publish", text: id.rawValue)
                let oldHash = try #require(try await app.store.draft(id)?.contentHash)
                let revised = try await app.slash(
                    user: requester,
                    command: "/revise",
                    text: "\(id) Use opsctl db rotate; ask #platform first."
                )
                #expect(revised.text.contains("version 2"))
                // The approval request for version 1 is void: approving now is refused.
                let refused = try await app.slash(user: approver, command: "/approve", text: id.rawValue).text
                #expect(refused.contains("Nothing to approve"))
                // A button shown for version 1 is refused as stale even after a new publish.
                _ = try await app.slash(user: requester, command: "/publish", text: id.rawValue)
                #expect(try await app.click(user: approver, action: "approve", value: "\(id):1").status == 200)
                #expect(
                    await eventually {
                        slack.directMessages(to: approver).contains { $0.text.contains("changed since you saw it") }
                    }
                )
                #expect(try await app.store.draft(id)?.state == .publishRequested)
                // The current version's button works like /approve (once its review reached the approver).
                #expect(await waitShown(app, id, [approver], version: 2))
                #expect(try await app.click(user: approver, action: "approve", value: "\(id):2").status == 200)
                let posted = try await waitForState(app, id, .posted)
                #expect(posted.contentHash != oldHash)
                #expect(slack.publicMessages.count == 1)
                #expect(
                    slack.publicMessages.first?.text.hasPrefix("Use opsctl db rotate; ask #platform first.") == true
                )
            }
        }
    }

    @Test("A rejected draft can no longer be published or approved")
    func rejectEndsDraft() async throws {
        try await withFakeSlack { slack in
            try await withAirlock(slack: slack, database: inMemoryDatabase, configure: standardApprovers) { app in
                let id = try await askQuestion(app, slack)
                _ = try await app.slash(user: requester, command: "/publish", text: id.rawValue)
                #expect(
                    try await app.slash(user: approver, command: "/reject", text: "\(id) cites the wrong runbook").text
                        .contains("rejected")
                )
                #expect(
                    await eventually {
                        slack.directMessages(to: requester).contains { $0.text.contains("cites the wrong runbook") }
                    }
                )
                #expect(
                    try await app.slash(user: secondApprover, command: "/approve", text: id.rawValue).text.contains(
                        "rejected"
                    )
                )
                let quiet = await settled(app)
                #expect(quiet, "jobs still pending")
                #expect(slack.publicMessages.isEmpty)
            }
        }
    }

    @Test("/drafts lists the sender's drafts and those waiting for their approval")
    func draftsListing() async throws {
        try await withFakeSlack { slack in
            try await withAirlock(slack: slack, database: inMemoryDatabase, configure: standardApprovers) { app in
                let id = try await askQuestion(app, slack)
                _ = try await app.slash(user: requester, command: "/publish", text: id.rawValue)
                #expect(await waitShown(app, id, [approver]))
                #expect(try await app.slash(user: requester, command: "/drafts", text: "").text.contains(id.rawValue))
                let approverView = try await app.slash(user: approver, command: "/airlock", text: "drafts").text
                #expect(approverView.contains("Waiting for your approval") && approverView.contains("/approve \(id)"))
                #expect(try await app.slash(user: stranger, command: "/drafts", text: "").text.contains("no drafts"))
            }
        }
    }

    @Test(
        "With AIRLOCK_SLACK_REVIEW_CHANNEL, a publish request is shown in the review channel with the approve command"
    )
    func reviewChannel() async throws {
        try await withFakeSlack { slack in
            try await withAirlock(
                slack: slack,
                database: temporaryDatabase(),
                configure: { config in
                    standardApprovers(&config)
                    config.slack?.reviewChannel = "G0REVIEW"
                }
            ) { app in
                let id = try await askQuestion(app, slack)
                #expect(
                    slack.messages.allSatisfy { $0.channel != "G0REVIEW" },
                    "nothing reaches reviewers before /publish"
                )
                let reply = try await app.slash(user: requester, command: "/publish", text: id.rawValue).text
                #expect(reply.contains("the review channel"))
                #expect(
                    await eventually {
                        slack.messages.contains {
                            $0.channel == "G0REVIEW" && $0.text.contains("/approve \(id)") && $0.hasButtons
                        }
                    }
                )
                #expect(slack.publicMessages.isEmpty)
            }
        }
    }

    @Test("A question sent by DM is answered by DM; it has no public thread, so publishing it is refused (by DM)")
    func directMessageQuestion() async throws {
        try await withFakeSlack { slack in
            try await withAirlock(slack: slack, database: inMemoryDatabase, configure: standardApprovers) { app in
                let question = SlackEvents.directMessage(
                    eventID: "EvDM1",
                    user: requester,
                    text: "how do I request production access?"
                )
                #expect(try await app.event(question).status == 200)
                #expect(
                    await eventually {
                        slack.directMessages(to: requester).contains { $0.text.contains("no public thread") }
                    }
                )
                let id = try #require(try await app.store.drafts(DraftFilter()).first?.id)
                #expect(try await app.store.draft(id)?.target == nil)
                #expect(
                    try await app.event(
                        SlackEvents.directMessage(eventID: "EvDM2", user: requester, text: "publish \(id)")
                    ).status == 200
                )
                #expect(
                    await eventually {
                        slack.directMessages(to: requester).contains { $0.text.contains("asked in a direct message") }
                    }
                )
                #expect(slack.publicMessages.isEmpty)
                #expect(try await app.store.draft(id)?.state == .answered)
            }
        }
    }

    @Test(
        "Signed, well-formed deliveries Airlock cannot use get 200 and are recorded as ignored",
        arguments: [
            #"{"type":"app_rate_limited","team_id":"T0001","minute_rate_limited":1518467820,"api_app_id":"A0001"}"#,
            #"{"type":"event_callback","event_id":"EvX1","event":{"type":"reaction_added","user":"U0REQ"}}"#,
            #"{"type":"event_callback","event_id":"EvX2","event":{"type":"app_mention","text":"<@U0BOT> no user"}}"#,
            #"{"type":"event_callback","event_id":"EvX3","event":{"type":"message","subtype":"message_changed","channel":"DU0REQ","channel_type":"im"}}"#,
            #"{"type":"event_callback","event_id":"EvX4","event":{"type":"app_mention","user":"U0REQ","text":"<@U0BOT>","ts":"1.2","channel":"C0001"}}"#,
        ]
    )
    func ignoredDeliveries(_ body: String) async throws {
        try await withFakeSlack { slack in
            try await withAirlock(slack: slack, database: inMemoryDatabase) { app in
                let response = try await app.sendSigned(
                    "/slack/events",
                    body: Data(body.utf8),
                    contentType: "application/json"
                )
                #expect(response.status == 200)
                let entries = try await auditEntries(app.store).filter { $0.kind.hasPrefix("inbound") }
                #expect(entries.count == 1)
                #expect(entries.first?.kind == "inbound")
                #expect(entries.first?.detail.contains("\"outcome\":\"ignored\"") == true)
                #expect(try await app.store.drafts(DraftFilter()).isEmpty)
            }
        }
    }

    @Test("Publish and Reject buttons act like the commands; ssl_check probes get 200")
    func buttonsAndProbes() async throws {
        try await withFakeSlack { slack in
            try await withAirlock(slack: slack, database: inMemoryDatabase, configure: standardApprovers) { app in
                let id = try await askQuestion(app, slack)
                #expect(try await app.click(user: stranger, action: "publish", value: "\(id):1").status == 200)
                #expect(
                    await eventually {
                        slack.directMessages(to: stranger).contains { $0.text.contains("Only the person who asked") }
                    }
                )
                #expect(try await app.click(user: requester, action: "publish", value: "\(id):1").status == 200)
                _ = try await waitForState(app, id, .publishRequested)
                #expect(try await app.click(user: secondApprover, action: "reject", value: "\(id):1").status == 200)
                _ = try await waitForState(app, id, .rejected)
                let probe = try await app.sendSigned(
                    "/slack/commands",
                    body: Data("ssl_check=1&token=x".utf8),
                    contentType: "application/x-www-form-urlencoded"
                )
                #expect(probe.status == 200)
                #expect(
                    try await app.slash(user: requester, command: "/airlock", text: "").text.contains("/publish <id>")
                )
            }
        }
    }

    @Test("url_verification answers the challenge")
    func urlVerification() async throws {
        try await withFakeSlack { slack in
            try await withAirlock(slack: slack, database: inMemoryDatabase) { app in
                let response = try await app.event([
                    "token": "t", "challenge": "3eZbrw1aBm2rZ", "type": "url_verification",
                ])
                #expect(response.status == 200)
                #expect(response.json["challenge"] as? String == "3eZbrw1aBm2rZ")
            }
        }
    }
}
