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
    /// `AIRLOCK_OPEN_APPROVAL`: with no approver listed, any human of these scopes (a Slack workspace, a Discord
    /// guild, a Mattermost team, a Matrix homeserver…) may approve drafts posted on that platform. Empty and no
    /// approver listed: nobody can approve (and `serve` refuses to start).
    public private(set) var openScopes: [PlatformName: Set<String>] = [:]
    /// Each platform's rules (id case, public length), from its module.
    public private(set) var traits: [PlatformName: PlatformTraits] = [:]
    /// The links as given, re-canonicalised when the traits change.
    private var rawLinks: [[PersonID]] = []
    private var rawSecurity: [PersonID] = []
    private var rawApprovers: [PersonID] = []

    public init(
        approvers: Set<PersonID> = [],
        groups: Set<String> = [],
        groupMembers: [String: Set<PersonID>] = [:],
        identityLinks: [PersonID: PersonID] = [:]
    ) {
        self.groups = groups
        self.groupMembers = groupMembers
        self.rawApprovers = approvers.sorted()
        self.rawLinks = identityLinks.map { [$0.key, $0.value] }
        self.listedApprovers = []
        self.canonicalAccount = [:]
        self.approvers = []
        rebuild()
    }

    /// Recomputes every canonical form from what was given (after links, traits or lists change).
    private mutating func rebuild() {
        canonicalAccount = Self.groupsOf(links: rawLinks.map { (normalized($0[0]), normalized($0[1])) })
        listedApprovers = Array(Set(rawApprovers.map(normalized))).sorted()
        approvers = Set(listedApprovers.map(canonical))
        listedSecurityApprovers = Array(Set(rawSecurity.map(normalized))).sorted()
        securityApprovers = Set(listedSecurityApprovers.map(canonical))
    }

    /// The same policy with identity links replaced.
    public func linking(_ links: [(PersonID, PersonID)]) -> ApprovalPolicy {
        var copy = self
        copy.rawLinks = links.map { [$0.0, $0.1] }
        copy.rebuild()
        return copy
    }

    /// The same policy with a security approver group.
    public func withSecurityApprovers(_ people: Set<PersonID>) -> ApprovalPolicy {
        var copy = self
        copy.rawSecurity = people.sorted()
        copy.rebuild()
        return copy
    }

    /// The same policy with open approval for these scopes (`AIRLOCK_OPEN_APPROVAL`).
    public func withOpenApproval(_ scopes: [PlatformName: Set<String>]) -> ApprovalPolicy {
        var copy = self
        copy.openScopes = scopes.filter { !$0.value.isEmpty }
        return copy
    }

    /// The same policy with each platform's rules (from the platform modules); ids are re-canonicalised.
    public func withTraits(_ traits: [PlatformName: PlatformTraits]) -> ApprovalPolicy {
        var copy = self
        copy.traits = traits
        copy.rebuild()
        return copy
    }

    /// `person` with its id in its platform's canonical case (as given when the platform is unknown).
    public func normalized(_ person: PersonID) -> PersonID {
        guard let rule = traits[person.platform] else { return person }
        return PersonID(platform: person.platform, id: rule.canonical(person.id))
    }

    /// The longest publishable answer on `platform`: its own limit, and never more than approvers can be shown.
    public func maxPublicLength(on platform: PlatformName) -> Int {
        min(Draft.maxPublishableLength, traits[platform]?.maxPublicLength ?? Draft.maxPublishableLength)
    }

    /// Approvers listed on more than one platform whose accounts are not linked to each other: each may approve
    /// only drafts posted on the platform they are listed on (a start-up warning names them).
    public var unlinkedCrossPlatformApprovers: [PersonID] {
        let platforms = Set(listedApprovers.map(\.platform))
        guard platforms.count > 1 else { return [] }
        return listedApprovers.filter { accounts(of: $0).count == 1 }
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

    /// True when no approver is listed: only open approval (`openScopes`) can authorise anyone.
    public var isOpen: Bool { approvers.isEmpty && groups.isEmpty }

    /// True when somebody can approve at all: approvers are listed, or open approval is scoped.
    public var canAnyoneApprove: Bool { !isOpen || !openScopes.isEmpty || !securityApprovers.isEmpty }

    /// The person behind an account.
    public func canonical(_ person: PersonID) -> PersonID {
        let normalized = normalized(person)
        return canonicalAccount[normalized] ?? normalized
    }

    /// Every account of the person behind `person` (linked through `AIRLOCK_IDENTITIES`), `person` first.
    public func accounts(of person: PersonID) -> [PersonID] {
        let root = canonical(person)
        let own = normalized(person)
        let linked = canonicalAccount.filter { $0.value == root }.map(\.key).sorted()
        return [own] + linked.filter { $0 != own }
    }

    /// Who `person` is as a reader of restricted documents: each linked account and `group:NAME` of their groups.
    public func readerIdentities(of person: PersonID) -> [String] {
        let accounts = accounts(of: person)
        let canonical = canonical(person)
        let groups = groupMembers.filter { $0.value.contains { self.canonical($0) == canonical } }.keys.map {
            "group:\($0)"
        }
        return accounts.map(\.description) + groups.sorted()
    }

    /// True when both accounts belong to one person.
    public func isSamePerson(_ a: PersonID, _ b: PersonID) -> Bool { canonical(a) == canonical(b) }

    /// True when `approver` may approve a draft that will be posted on `target` (not checking requester or bot
    /// rules). The person must be listed (an approver, a group member or a security approver) and have an account
    /// on `target` — the one approving, or one linked to it in `AIRLOCK_IDENTITIES`; with no approver listed,
    /// an account of `target` acting from a scope in `AIRLOCK_OPEN_APPROVAL` (`scope` nil: recorded earlier,
    /// when the approval was checked against it).
    public func isListed(_ approver: PersonID, scope: String?, target: PlatformName) -> Bool {
        let person = canonical(approver)
        let accounts = accounts(of: approver)
        guard accounts.contains(where: { $0.platform == target }) else { return false }
        if securityApprovers.contains(person) || approvers.contains(person) { return true }
        if groups.contains(where: { group in groupMembers[group]?.contains { canonical($0) == person } ?? false }) {
            return true
        }
        guard isOpen, approver.platform == target, let scopes = openScopes[target] else { return false }
        guard let scope else { return true }
        return scopes.contains(scope) || scopes.contains("*")
    }

    /// Parses `AIRLOCK_OPEN_APPROVAL` (`slack:T0TEAM,matrix:example.org`); returns the entries it could not read.
    public static func parse(openApproval list: String) -> (scopes: [PlatformName: Set<String>], invalid: [String]) {
        var scopes: [PlatformName: Set<String>] = [:]
        var invalid: [String] = []
        for item in list.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !item.isEmpty {
            guard let colon = item.firstIndex(of: ":"), let platform = PlatformName.validated(String(item[..<colon]))
            else {
                invalid.append(item)
                continue
            }
            let scope = String(item[item.index(after: colon)...])
            guard Identifier.isPlainToken(scope, maxLength: 255) else {
                invalid.append(item)
                continue
            }
            scopes[platform, default: []].insert(scope)
        }
        return (scopes, invalid)
    }
}
