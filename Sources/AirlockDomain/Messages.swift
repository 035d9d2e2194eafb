/// The texts Airlock sends, kept in one place so every platform says the same thing.
public enum Messages {
    /// The private DM carrying a fresh (or revised) draft to its requester.
    public static func draftForRequester(_ draft: Draft, read: String? = nil) -> OutboundMessage {
        var lines: [String] = []
        lines.append(
            draft.version > 1
                ? "Revised draft `\(draft.id)` (version \(draft.version)) — only you can see this."
                : "Draft answer `\(draft.id)` — only you can see this."
        )
        lines.append("")
        lines.append("> Q: \(oneLine(draft.question))")
        if let read { lines.append(read) }
        lines.append("")
        lines.append(draft.text)
        if !draft.sources.isEmpty {
            lines.append("")
            lines.append(
                "Sources: "
                    + draft.sources.map { $0.restricted ? "\($0.label) [RESTRICTED]" : $0.label }.joined(
                        separator: "; "
                    )
            )
        }
        if !draft.redactions.isEmpty {
            lines.append("Redacted before sending: " + counted(draft.redactions.map(\.kind)))
        }
        if !draft.risks.isEmpty {
            lines.append(
                "Flagged: " + draft.risks.map(\.description).joined(separator: "; ")
                    + " — it needs a security approver (or two approvers where no security group is set)."
            )
        }
        if !draft.riskFlags.isEmpty {
            lines.append("Risk flags: " + draft.riskFlags.joined(separator: "; "))
        }
        let restricted = draft.sources.filter(\.restricted)
        if !restricted.isEmpty {
            lines.append(
                "This draft draws on restricted documents: it is for you only and can never be published, even revised."
            )
        }
        lines.append("")
        if !restricted.isEmpty {
            lines.append(
                "Nothing of it can go public. If the thread needs an answer, ask a question whose answer uses only public docs."
            )
        } else if draft.target != nil {
            lines.append(
                "To post it in the thread: /publish \(draft.id) (then a second person must /approve \(draft.id))"
            )
        } else {
            lines.append("You asked in a DM, so there is no public thread to post this in.")
        }
        if restricted.isEmpty { lines.append("To change the text: /revise \(draft.id) <text>") }
        lines.append("To drop it: /reject \(draft.id)")
        let actions =
            draft.target == nil || !restricted.isEmpty
            ? [MessageAction]()
            : [
                MessageAction(command: "publish", draftID: draft.id, version: draft.version),
                MessageAction(command: "reject", draftID: draft.id, version: draft.version),
            ]
        return OutboundMessage(
            text: lines.joined(separator: "\n"),
            actions: actions,
            confidential: restricted.isEmpty ? nil : true
        )
    }

    /// Shown to approvers when the requester asks to publish.
    public static func reviewRequest(_ draft: Draft) -> OutboundMessage {
        var lines = [
            "\(draft.requester) asks to publish draft `\(draft.id)` (version \(draft.version)) in \(draft.target?.description ?? "-").",
            "Where it would go: \(draft.target?.place.map { "\($0.name) — visible to \(Messages.audience($0.visibility))" } ?? "a thread whose audience the platform does not report; check it before approving").",
            "> Q: \(oneLine(draft.question))",
            "",
            "Exactly what would be posted (shown as raw text, nothing hidden by formatting):",
            fenced(draft.text),
        ]
        if !draft.risks.isEmpty {
            lines.append(
                "Flagged: " + draft.risks.map(\.description).joined(separator: "; ")
                    + ". It needs an approver from the security group (or two approvers when none is configured)."
            )
        }
        if !draft.riskFlags.isEmpty { lines.append("Risk flags: " + draft.riskFlags.joined(separator: "; ")) }
        lines.append("")
        lines.append("Text hash \(draft.contentHash.prefix(12)) — approve exactly this version:")
        lines.append("Approve: /approve \(draft.id) v\(draft.version)    Reject: /reject \(draft.id) <reason>")
        return OutboundMessage(
            text: lines.joined(separator: "\n"),
            actions: [
                MessageAction(command: "approve", draftID: draft.id, version: draft.version),
                MessageAction(command: "reject", draftID: draft.id, version: draft.version),
            ]
        )
    }

    /// The public post: the approved text and a footer naming who asked and who approved.
    /// Names no one by id: internal account ids are not for public threads (the audit log says who asked and who
    /// approved).
    public static func publicPost(_ draft: Draft, approver: PersonID) -> String {
        var approvers = Set(draft.approvals.filter { $0.version == draft.version }.map(\.approver))
        approvers.insert(approver)
        let who = approvers.count == 1 ? "a second person" : "\(approvers.count) other people"
        return
            "\(draft.text)\n\n— Answer drafted by Airlock at a colleague's request, reviewed and approved by \(who). \(PublishMarker(draftID: draft.id, version: draft.version).footer)"
    }

    /// `What changed: 2 lines added, 3 removed` and the added lines, for a new version the requester did not write.
    public static func changes(from old: String, to new: String) -> String {
        let before = old.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
        let after = new.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
        let added = after.filter { !before.contains($0) }
        let removed = before.filter { !after.contains($0) }
        guard !added.isEmpty || !removed.isEmpty else { return "What changed: nothing (the agent gave the same text)." }
        var lines = ["What changed: \(added.count) line(s) added, \(removed.count) removed."]
        lines += added.prefix(5).map { "+ " + oneLine($0) }
        return lines.joined(separator: "\n")
    }

    /// Who can read a place, in words.
    static func audience(_ visibility: Place.Visibility) -> String {
        switch visibility {
        case .private: "its invited members only"
        case .organisation: "everyone in the organisation"
        case .public: "anyone who can reach it (public)"
        }
    }

    /// Told to the requester and the approvers when the thread became more public than when the answer was written.
    public static func targetMorePublic(_ draft: Draft, was: Place, now: Place) -> OutboundMessage {
        OutboundMessage(
            text:
                "Draft `\(draft.id)` was NOT posted: its thread \(was.name) was visible to \(audience(was.visibility)) when the answer was written and approved, and is now visible to \(audience(now.visibility)). Ask again in the thread if the answer should still go there."
        )
    }

    /// `text` in a code fence longer than any run of backticks inside it, so Markdown renders all of it verbatim.
    static func fenced(_ text: String) -> String {
        var longest = 0
        var run = 0
        for character in text {
            run = character == "`" ? run + 1 : 0
            longest = max(longest, run)
        }
        let fence = String(repeating: "`", count: max(3, longest + 1))
        return "\(fence)\n\(text)\n\(fence)"
    }

    /// `2 × AWS access key id, Slack token`.
    static func counted(_ kinds: [String]) -> String {
        var order: [String] = []
        var counts: [String: Int] = [:]
        for kind in kinds {
            if counts[kind] == nil { order.append(kind) }
            counts[kind, default: 0] += 1
        }
        return order.map { counts[$0]! > 1 ? "\(counts[$0]!) × \($0)" : $0 }.joined(separator: ", ")
    }

    /// Sent to requester and approver once the post is up.
    public static func posted(_ draft: Draft, link: String?) -> OutboundMessage {
        OutboundMessage(
            text:
                "Draft `\(draft.id)` is now public in \(draft.target?.description ?? "the thread"): \(link ?? "(no link available)")"
        )
    }

    /// Sent to the requester when the agent failed.
    public static func agentFailed(_ draft: Draft) -> OutboundMessage {
        OutboundMessage(
            text:
                "Sorry, I could not produce an answer for draft `\(draft.id)`. Nothing was posted. Please ask again later."
        )
    }

    /// Sent to the requester when the publisher gave up.
    public static func publishFailed(_ draft: Draft, reason: String) -> OutboundMessage {
        OutboundMessage(text: "Draft `\(draft.id)` could not be posted: \(reason). Nothing is public.")
    }

    /// Sent to the requester when an approver rejected the draft.
    public static func rejected(_ draft: Draft, by person: PersonID, reason: String?) -> OutboundMessage {
        OutboundMessage(text: "\(person) rejected draft `\(draft.id)`" + (reason.map { ": \($0)" } ?? "."))
    }

    /// One line of a `/drafts` listing.
    public static func listing(_ draft: Draft) -> String {
        "`\(draft.id)` \(draft.state.rawValue) v\(draft.version) — \(oneLine(draft.question).prefix(60))"
    }

    static func oneLine(_ text: String) -> String {
        text.split(whereSeparator: \.isNewline).joined(separator: " ")
    }
}
