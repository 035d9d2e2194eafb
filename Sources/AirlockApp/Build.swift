public import AirlockAgents
public import AirlockDomain
import AirlockPostgres
public import AirlockSQLite
public import AirlockSandbox
import AirlockWebhookKit
public import AirlockWorkflow
public import AsyncHTTPClient
public import Foundation
import GRDB
public import Hummingbird
public import Logging
import NIOCore
public import ServiceLifecycle
public import UnixSignals

/// What the process provides from outside the configuration.
public struct AirlockDependencies: Sendable {
    public var httpClient: HTTPClient
    /// The built-in sandbox platform (demo and tests); enabled together with `AirlockConfig.sandboxToken`.
    public var sandbox: SandboxPlatform?
    public var metrics: AirlockMetrics
    public var now: @Sendable () -> Date
    /// A store to use instead of the one `AIRLOCK_DATABASE` names (the workflow tests' in-memory store).
    public var store: (any ManagedStore)?

    public init(
        httpClient: HTTPClient = .shared,
        sandbox: SandboxPlatform? = nil,
        metrics: AirlockMetrics = AirlockMetrics(),
        now: @escaping @Sendable () -> Date = Date.init,
        store: (any ManagedStore)? = nil
    ) {
        self.httpClient = httpClient
        self.sandbox = sandbox
        self.metrics = metrics
        self.now = now
        self.store = store
    }
}

/// The database cannot be opened, reached or migrated (the CLI exits 3). A wrong setting is a `ConfigError`
/// (exit 2): the one error type for "the configuration is wrong", whatever step found it.
public enum StartupError: Error, Sendable, CustomStringConvertible {
    case database(String)

    public var description: String {
        switch self {
        case .database(let message): message
        }
    }
}

/// A built Airlock: its store, its services (housekeeping, job worker, HTTP server) in dependency order.
public struct AirlockRuntime: Sendable {
    public let store: any ManagedStore
    public let conversation: Conversation
    /// Webhooks in flight (job workers give way to acks while many are).
    public var inboundLoad = InboundLoad()
    /// Worker first, server last: on shutdown the server stops taking requests before the worker finishes its jobs.
    public let services: [any Service]
    public let logger: Logger

    /// The one service group `serve`, `demo` and the tests run: graceful on `signals` (none for embedded use).
    public func makeServiceGroup(gracefulShutdownSignals signals: [UnixSignal] = []) -> ServiceGroup {
        var config = ServiceGroupConfiguration(
            services: services.map { .init(service: $0) },
            gracefulShutdownSignals: signals,
            logger: logger
        )
        config.maximumGracefulShutdownDuration = .seconds(25)
        return ServiceGroup(configuration: config)
    }

    /// Runs until SIGTERM/SIGINT, then shuts down gracefully (in-flight requests and jobs finish).
    public func run(gracefulShutdownSignals: [UnixSignal] = [.sigterm, .sigint]) async throws {
        try await makeServiceGroup(gracefulShutdownSignals: gracefulShutdownSignals).run()
    }
}

/// Opens the database, indexes the knowledge base, starts each enabled platform and assembles the services.
public func buildAirlock(
    config: AirlockConfig,
    dependencies: AirlockDependencies,
    logger: Logger,
    onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
) async throws -> AirlockRuntime {
    let (store, indexDatabase) = try await openStore(config, given: dependencies.store, logger: logger)
    let index = try await knowledgeIndex(config, database: indexDatabase, logger: logger)
    let agent = makeAgent(config, http: dependencies.httpClient, index: index)
    logger.info("Analysis agent ready", metadata: ["agent.backend": "\(agent.backend.rawValue)"])
    let bindings = try await startPlatforms(config, dependencies, store: store, logger: logger)
    let platforms = Dictionary(bindings.map { ($0.outbound.name, $0.outbound) }, uniquingKeysWith: { $1 })
    if platforms.isEmpty {
        logger.warning("No chat platform is enabled: set AIRLOCK_SLACK_SIGNING_SECRET and AIRLOCK_SLACK_BOT_TOKEN")
    }
    let policy = try approvalPolicy(config, platforms: Set(platforms.keys), logger: logger)
    let signal = JobSignal()
    let inboundLoad = InboundLoad()
    let conversation = makeConversation(config, dependencies, store, policy, bindings, signal, restricted: index)
    let app = makeServer(config, dependencies, store, conversation, bindings, inboundLoad, onServerRunning, logger)
    var worker = JobWorker(
        store: store,
        platforms: platforms,
        agent: agent,
        policy: policy,
        agentTimeout: config.agentTimeout,
        signal: signal,
        metrics: dependencies.metrics,
        logger: logger,
        concurrency: config.workers,
        now: dependencies.now
    )
    worker.lease = max(config.jobLease, config.agentTimeout + .seconds(1))
    (worker.inboundLoad, worker.restricted) = (inboundLoad, index)
    let housekeeping = HousekeepingWorker(
        store: store,
        logger: logger,
        now: dependencies.now,
        interval: config.housekeepingInterval
    )
    return AirlockRuntime(
        store: store,
        conversation: conversation,
        inboundLoad: inboundLoad,
        services: [StoreService(store: store), housekeeping, worker, app],
        logger: logger
    )
}

/// The HTTP server: each platform's routes, health, readiness and metrics.
func makeServer(
    _ config: AirlockConfig,
    _ dependencies: AirlockDependencies,
    _ store: any ManagedStore,
    _ conversation: Conversation,
    _ bindings: [PlatformBinding],
    _ inboundLoad: InboundLoad,
    _ onServerRunning: @escaping @Sendable (Int) async -> Void,
    _ logger: Logger
) -> some Service {
    let router = buildRouter(
        RouteDependencies(
            conversation: conversation,
            store: store,
            readiness: { await store.isReady() },
            metrics: dependencies.metrics,
            adapters: bindings.map(\.inbound),
            refusals: RefusalRecorder(),
            now: dependencies.now,
            inboundLoad: inboundLoad,
            metricsToken: config.metricsToken
        )
    )
    return Application(
        router: router,
        configuration: .init(address: .hostname(config.host, port: config.port), serverName: "airlock"),
        onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? config.port) },
        logger: logger
    )
}

/// The store `AIRLOCK_DATABASE` names, and where the knowledge index lives: beside the drafts in SQLite; in memory
/// for PostgreSQL, where each replica builds its own from the docs at start.
func openStore(
    _ config: AirlockConfig,
    given: (any ManagedStore)?,
    logger: Logger
) async throws
    -> (any ManagedStore, any DatabaseWriter)
{
    if let given { return (given, try DatabaseQueue()) }
    do {
        switch StoreKind(url: config.database) {
        case .postgres:
            let store = try await PostgresStore.open(url: config.database, auditKey: config.auditKey, logger: logger)
            return (store, try DatabaseQueue())
        case .sqlite:
            let store = try SQLiteStore.open(url: config.database, auditKey: config.auditKey)
            return (store, store.writer)
        }
    } catch {
        throw StartupError.database("\(error)")
    }
}

/// The knowledge index over `AIRLOCK_KB_DIR` (or the bundled sample docs), re-indexed where files changed.
func knowledgeIndex(
    _ config: AirlockConfig,
    database: any DatabaseWriter,
    logger: Logger
) async throws
    -> KnowledgeIndex
{
    let index = try KnowledgeIndex(writer: database)
    let documents: [KnowledgeDocument]
    do {
        documents = try config.kbDirectory.map(KnowledgeIndex.documents(inFolder:)) ?? SampleKnowledgeBase.documents
    } catch {
        throw ConfigError("AIRLOCK_KB_DIR: \(error)")
    }
    let indexed = try await index.replace(with: documents)
    logger.info(
        "Knowledge base ready",
        metadata: [
            "kb.documents": "\(documents.count)", "kb.passages.indexed": "\(indexed)",
            "kb.source": "\(config.kbDirectory ?? "bundled sample")",
        ]
    )
    return index
}

/// The analysis agent `AIRLOCK_AGENT` names.
func makeAgent(_ config: AirlockConfig, http: HTTPClient, index: KnowledgeIndex) -> any AnalysisAgent {
    switch config.agent {
    case .retrieval: RetrievalAgent(index: index)
    case .openAI(let base, let key, let model):
        OpenAIAgent(
            http: http,
            baseURL: base,
            apiKey: key,
            model: model,
            index: index,
            timeout: config.agentTimeout,
            mcp: config.mcpServers
        )
    case .anthropic(let base, let key, let model):
        AnthropicAgent(
            http: http,
            baseURL: base,
            apiKey: key,
            model: model,
            index: index,
            timeout: config.agentTimeout,
            mcp: config.mcpServers
        )
    case .command(let command): CommandAgent(command: command, index: index, timeout: config.agentTimeout)
    }
}

/// Starts each enabled platform (learning its bot identity), and the sandbox when the demo or a test enables it;
/// their outbound API calls are recorded in the audit log.
func startPlatforms(
    _ config: AirlockConfig,
    _ dependencies: AirlockDependencies,
    store: any ManagedStore,
    logger: Logger
) async throws -> [PlatformBinding] {
    let context = PlatformContext(
        http: dependencies.httpClient,
        logger: logger,
        recordAPICall: { platform, detail in
            if let error = detail["error"] {
                dependencies.metrics.outboundError(
                    platform: platform.rawValue,
                    kind: error == "ratelimited" ? "rate_limited" : "error"
                )
            }
            do {
                try await store.appendAudit(
                    [AuditEvent(kind: .apiCall, platform: platform, detail: detail)],
                    at: dependencies.now()
                )
            } catch {
                logger.error(
                    "Cannot record an outbound API call in the audit log",
                    metadata: ["platform": "\(platform)", "error": "\(error)"]
                )
            }
        },
        now: dependencies.now
    )
    var bindings: [PlatformBinding] = []
    for module in config.platforms {
        do {
            bindings.append(try await module.start(context))
        } catch let error as PlatformSettingsError {
            throw ConfigError(error.description)
        }
    }
    if let sandbox = dependencies.sandbox, let token = config.sandboxToken {
        bindings.append(
            PlatformBinding(inbound: SandboxAdapter(token: token, channels: sandbox.channels), outbound: sandbox)
        )
    }
    return bindings
}

/// The conversation: inbound decisions over the store, with the review channels and who can take a DM.
func makeConversation(
    _ config: AirlockConfig,
    _ dependencies: AirlockDependencies,
    _ store: any ManagedStore,
    _ policy: ApprovalPolicy,
    _ bindings: [PlatformBinding],
    _ signal: JobSignal,
    restricted: KnowledgeIndex
) -> Conversation {
    var conversation = Conversation(
        store: store,
        policy: policy,
        reviewChannels: Dictionary(
            bindings.compactMap { binding in binding.reviewChannel.map { (binding.outbound.name, $0) } },
            uniquingKeysWith: { $1 }
        ),
        draftTTL: config.draftTTL,
        signal: signal,
        metrics: dependencies.metrics,
        now: dependencies.now,
        directRoute: DirectMessageRoute(
            capable: Set(bindings.filter { $0.outbound.canSendDirectMessages }.map(\.outbound.name)),
            policy: policy
        )
    )
    conversation.questionLimit = config.questionsPerHour
    conversation.restricted = restricted
    return conversation
}

/// The approval policy with each enabled platform's own rules (id case, public length), after the checks that
/// keep approval from being open by accident: somebody must be able to approve (listed approvers, or open approval
/// scoped with `AIRLOCK_OPEN_APPROVAL`), open scopes must name enabled platforms, and approvers listed on several
/// platforms without links are warned about (each approves only drafts posted where they are listed).
func approvalPolicy(_ config: AirlockConfig, platforms: Set<PlatformName>, logger: Logger) throws -> ApprovalPolicy {
    var policy = config.policy.withTraits(platformTraits())
    let disabled = policy.openScopes.keys.filter { !platforms.contains($0) }
    if !disabled.isEmpty {
        logger.warning(
            "AIRLOCK_OPEN_APPROVAL names platforms that are not enabled; ignored",
            metadata: ["platforms": "\(disabled.map(\.rawValue).sorted().joined(separator: ","))"]
        )
        policy = policy.withOpenApproval(policy.openScopes.filter { platforms.contains($0.key) })
    }
    guard policy.canAnyoneApprove else {
        throw ConfigError(
            "Nobody can approve: list approvers in AIRLOCK_APPROVERS (platform:id or group:NAME), or allow open approval explicitly for a scope with AIRLOCK_OPEN_APPROVAL (e.g. slack:T0TEAM, matrix:example.org, discord:<guild id>, mattermost:<team id>)"
        )
    }
    if !policy.openScopes.isEmpty, !policy.isOpen {
        logger.warning("AIRLOCK_OPEN_APPROVAL is ignored: AIRLOCK_APPROVERS lists approvers")
    }
    for (platform, scopes) in policy.openScopes.sorted(by: { $0.key.rawValue < $1.key.rawValue }) where policy.isOpen {
        logger.warning(
            "Open approval: any human of these scopes may approve drafts posted on \(platform)",
            metadata: ["scopes": "\(scopes.sorted().joined(separator: ","))"]
        )
    }
    let unlinked = policy.unlinkedCrossPlatformApprovers
    if !unlinked.isEmpty {
        logger.warning(
            "Approvers are listed on several platforms without links (AIRLOCK_IDENTITIES): each approves only drafts posted on the platform they are listed on",
            metadata: ["approvers": "\(unlinked.map(\.description).joined(separator: ","))"]
        )
    }
    return policy
}

/// Keeps the store open while the group runs and closes it last (services stop in reverse order).
struct StoreService: Service {
    let store: any ManagedStore

    func run() async throws {
        try? await gracefulShutdown()
        await store.close()
    }
}
