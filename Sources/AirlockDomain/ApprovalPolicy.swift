import Foundation

/// Who may approve, and which accounts belong to one person.
public struct ApprovalPolicy: Sendable, Hashable {
    /// Listed approvers (`AIRLOCK_APPROVERS`), as canonical persons.
    public var approvers: Set<PersonID>
    /// Group names listed as `group:NAME` in `AIRLOCK_APPROVERS`.
    public var groups: Set<String>
    /// Members of each group (from configuration); a group with no known members authorises nobody.
    public var groupMembers: [String: Set<PersonID>]
    /// Account → the person's primary account (`AIRLOCK_IDENTITIES`).
    public var identityLinks: [PersonID: PersonID]

    public init(
        approvers: Set<PersonID> = [],
        groups: Set<String> = [],
        groupMembers: [String: Set<PersonID>] = [:],
        identityLinks: [PersonID: PersonID] = [:]
    ) {
        self.identityLinks = identityLinks
        self.groups = groups
        self.groupMembers = groupMembers
        self.approvers = []
        self.approvers = Set(approvers.map(canonical))
    }

    /// Parses the comma list of `platform:id` and `group:NAME`; returns the entries it could not read.
    public static func parse(approvers list: String) -> (policy: ApprovalPolicy, invalid: [String]) {
        var people = Set<PersonID>()
        var groups = Set<String>()
        var invalid: [String] = []
        for item in list.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !item.isEmpty {
            if item.hasPrefix("group:"), item.count > 6 {
                groups.insert(String(item.dropFirst(6)))
            } else if let person = PersonID(parsing: item) {
                people.insert(person)
            } else {
                invalid.append(item)
            }
        }
        return (ApprovalPolicy(approvers: people, groups: groups), invalid)
    }

    /// True when no approver is listed: any other human of the requester's platform may approve.
    public var isOpen: Bool { approvers.isEmpty && groups.isEmpty }

    /// The person behind an account.
    public func canonical(_ person: PersonID) -> PersonID { identityLinks[person] ?? person }

    /// True when both accounts belong to one person.
    public func isSamePerson(_ a: PersonID, _ b: PersonID) -> Bool { canonical(a) == canonical(b) }

    /// True when `approver` is authorised by the list (not checking requester or bot rules).
    public func isListed(_ approver: PersonID, forRequester requester: PersonID) -> Bool {
        if isOpen { return approver.platform == requester.platform }
        let person = canonical(approver)
        if approvers.contains(person) { return true }
        return groups.contains { groupMembers[$0]?.contains(person) ?? false }
    }
}
