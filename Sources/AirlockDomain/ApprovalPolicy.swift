import Foundation

/// Who may approve, and which accounts belong to one person.
public struct ApprovalPolicy: Sendable, Hashable {
    /// Listed approvers (`AIRLOCK_APPROVERS`), as canonical persons.
    public private(set) var approvers: Set<PersonID>
    /// Group names listed as `group:NAME` in `AIRLOCK_APPROVERS`.
    public var groups: Set<String>
    /// Members of each group (from configuration); a group with no known members authorises nobody.
    public var groupMembers: [String: Set<PersonID>]
    /// Each linked account → the canonical account of its person (the smallest of the group). Links are
    /// undirected and transitive (union–find over `AIRLOCK_IDENTITIES`), so `A→B`, `B→A` and chains all
    /// make one person.
    public private(set) var canonicalAccount: [PersonID: PersonID]
    /// The approvers as listed (not canonicalised), to send review DMs to the accounts that were named.
    public private(set) var listedApprovers: [PersonID]
    /// `AIRLOCK_SECURITY_APPROVERS` as listed: a draft whose advice is flagged needs one of them; when empty, it
    /// needs two distinct approvers instead.
    public private(set) var listedSecurityApprovers: [PersonID] = []
    /// The security approvers, canonical.
    public private(set) var securityApprovers: Set<PersonID> = []

    public init(
        approvers: Set<PersonID> = [],
        groups: Set<String> = [],
        groupMembers: [String: Set<PersonID>] = [:],
        identityLinks: [PersonID: PersonID] = [:]
    ) {
        self.groups = groups
        self.groupMembers = groupMembers
        self.canonicalAccount = Self.groupsOf(links: identityLinks.map { ($0.key.normalized, $0.value.normalized) })
        self.listedApprovers = approvers.map(\.normalized).sorted()
        self.approvers = []
        self.approvers = Set(listedApprovers.map(canonical))
    }

    /// The same policy with identity links replaced.
    public func linking(_ links: [(PersonID, PersonID)]) -> ApprovalPolicy {
        var copy = self
        copy.canonicalAccount = Self.groupsOf(links: links.map { ($0.normalized, $1.normalized) })
        copy.approvers = Set(listedApprovers.map(copy.canonical))
        copy.securityApprovers = Set(listedSecurityApprovers.map(copy.canonical))
        return copy
    }

    /// The same policy with a security approver group.
    public func withSecurityApprovers(_ people: Set<PersonID>) -> ApprovalPolicy {
        var copy = self
        copy.listedSecurityApprovers = people.map(\.normalized).sorted()
        copy.securityApprovers = Set(copy.listedSecurityApprovers.map(copy.canonical))
        return copy
    }

    /// True when `person` (any linked account) is in the security approver group.
    public func isSecurityApprover(_ person: PersonID) -> Bool { securityApprovers.contains(canonical(person)) }

    /// Union–find over the links; every member maps to its group's smallest account.
    static func groupsOf(links: [(PersonID, PersonID)]) -> [PersonID: PersonID] {
        var parent: [PersonID: PersonID] = [:]
        func find(_ x: PersonID) -> PersonID {
            var root = x
            while let up = parent[root], up != root { root = up }
            var node = x
            while let up = parent[node], up != root {
                parent[node] = root
                node = up
            }
            return root
        }
        for (a, b) in links {
            if parent[a] == nil { parent[a] = a }
            if parent[b] == nil { parent[b] = b }
            let (ra, rb) = (find(a), find(b))
            if ra != rb {
                // The smaller account becomes the root, so the canonical account does not depend on link order.
                if ra < rb { parent[rb] = ra } else { parent[ra] = rb }
            }
        }
        var result: [PersonID: PersonID] = [:]
        for member in parent.keys { result[member] = find(member) }
        return result
    }

    /// Parses the comma list of `platform:id` and `group:NAME`; returns the entries it could not read.
    public static func parse(approvers list: String) -> (policy: ApprovalPolicy, invalid: [String]) {
        var people = Set<PersonID>()
        var groups = Set<String>()
        var invalid: [String] = []
        for item in list.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !item.isEmpty {
            if item.hasPrefix("group:"), item.count > 6, Identifier.isPlainToken(String(item.dropFirst(6))) {
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
    public func canonical(_ person: PersonID) -> PersonID {
        let normalized = person.normalized
        return canonicalAccount[normalized] ?? normalized
    }

    /// Every account of the person behind `person` (linked through `AIRLOCK_IDENTITIES`), `person` first.
    public func accounts(of person: PersonID) -> [PersonID] {
        let root = canonical(person)
        let linked = canonicalAccount.filter { $0.value == root }.map(\.key).sorted()
        return [person.normalized] + linked.filter { $0 != person.normalized }
    }

    /// True when both accounts belong to one person.
    public func isSamePerson(_ a: PersonID, _ b: PersonID) -> Bool { canonical(a) == canonical(b) }

    /// True when `approver` is authorised by the list (not checking requester or bot rules).
    public func isListed(_ approver: PersonID, forRequester requester: PersonID) -> Bool {
        if isSecurityApprover(approver) { return true }
        if isOpen { return approver.platform == requester.platform }
        let person = canonical(approver)
        if approvers.contains(person) { return true }
        return groups.contains { group in groupMembers[group]?.contains { canonical($0) == person } ?? false }
    }
}

extension PersonID {
    /// The id in its platform's canonical case: Slack ids upper case; GitHub, Discourse and Mattermost names
    /// are case-insensitive, so lower case; other platforms as given.
    public var normalized: PersonID {
        switch platform.rawValue {
        case "slack": PersonID(platform: platform, id: id.uppercased())
        case "github", "discourse", "mattermost", "sandbox": PersonID(platform: platform, id: id.lowercased())
        default: self
        }
    }
}
