public import AirlockDomain
public import AsyncHTTPClient
public import Foundation
import NIOCore
public import NIOHTTP1

/// A JSON Web API client shared by the platform modules: one request, errors mapped to `PlatformError`
/// (429 → rate limited with a bounded `Retry-After`, 5xx and transport → transient, other 4xx → permanent), every
/// call recorded (method, path, status, duration — never a header or a body).
public struct APIClient: Sendable {
    public let http: HTTPClient
    public let baseURL: String
    let headers: [(String, String)]
    let platform: PlatformName
    let record: @Sendable (PlatformName, [String: String]) async -> Void
    let timeout: Duration

    public init(
        http: HTTPClient,
        baseURL: String,
        headers: [(String, String)],
        platform: PlatformName,
        timeout: Duration = .seconds(10),
        record: @escaping @Sendable (PlatformName, [String: String]) async -> Void
    ) {
        self.http = http
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.headers = headers
        self.platform = platform
        self.timeout = timeout
        self.record = record
    }

    /// Sends `json` (if any) to `path` and returns the parsed JSON answer (`NSNull` for an empty body).
    @discardableResult
    public func call(
        _ method: HTTPMethod,
        _ path: String,
        query: [String: String] = [:],
        json: Data? = nil
    ) async throws -> sending Any {
        let (data, label) = try await raw(method, path, query: query, json: json)
        if data.isEmpty { return NSNull() }
        guard let object = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) else {
            // A 2xx whose body is not JSON may still have done what was asked (posted): retried and reconciled,
            // never taken as a final failure.
            throw PlatformError.transient("\(label): the answer is not JSON")
        }
        return object
    }

    /// Sends `json` (if any) and decodes the answer as `T`. A 2xx answer that does not decode — not JSON, a missing
    /// or mistyped field — is a transient error (the platform may have acted: reconcile, retry), never "nothing".
    public func decode<T: Decodable>(
        _ type: T.Type,
        _ method: HTTPMethod,
        _ path: String,
        query: [String: String] = [:],
        json: Data? = nil
    ) async throws -> T {
        let (data, label) = try await raw(method, path, query: query, json: json)
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch {
            throw PlatformError.transient("\(label): the answer is not the documented \(T.self)")
        }
    }

    /// Sends `value` encoded as JSON and decodes the answer as `T` (see `decode`).
    public func send<T: Decodable>(
        _ method: HTTPMethod,
        _ path: String,
        query: [String: String] = [:],
        body: some Encodable,
        as type: T.Type
    ) async throws -> T {
        try await decode(T.self, method, path, query: query, json: try JSONEncoder().encode(body))
    }

    /// The raw 2xx answer and the call's label; 429/5xx/transport/4xx mapped to `PlatformError`.
    func raw(_ method: HTTPMethod, _ path: String, query: [String: String], json: Data?) async throws -> (Data, String)
    {
        var url = baseURL + path
        if !query.isEmpty {
            var components = URLComponents()
            components.queryItems = query.sorted { $0.key < $1.key }.map { URLQueryItem(name: $0.key, value: $0.value) }
            url += "?" + (components.percentEncodedQuery ?? "")
        }
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let json {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: json))
        }
        let started = ContinuousClock.now
        let label = "\(method.rawValue) \(Self.template(path))"
        var status: Int?
        do {
            let response = try await http.execute(request, timeout: .milliseconds(timeout.milliseconds))
            status = Int(response.status.code)
            let bytes = try await response.body.collect(upTo: 8 << 20)
            let data = Data(bytes.readableBytesView)
            let code = Int(response.status.code)
            if code == 429 {
                await note(label, status, started, "ratelimited")
                let seconds = response.headers.first(name: "Retry-After").flatMap(Double.init) ?? 30
                throw PlatformError.rateLimited(retryAfter: .milliseconds(Int64(min(3600, max(1, seconds)) * 1000)))
            }
            if code >= 500 {
                await note(label, status, started, "http_\(code)")
                throw PlatformError.transient("\(label): HTTP \(code)")
            }
            guard (200..<300).contains(code) else {
                await note(label, status, started, "http_\(code)")
                throw PlatformError.permanent("\(label): HTTP \(code)")
            }
            await note(label, status, started, nil)
            return (data, label)
        } catch let error as PlatformError {
            throw error
        } catch {
            await note(label, status, started, "transport")
            throw PlatformError.transient("\(label): \(type(of: error))")
        }
    }

    private func note(_ label: String, _ status: Int?, _ started: ContinuousClock.Instant, _ error: String?) async {
        var detail = [
            "method": label, "status": status.map(String.init) ?? "none",
            "duration_ms": String((ContinuousClock.now - started).milliseconds),
        ]
        if let error { detail["error"] = error }
        await record(platform, detail)
    }

    /// The path with ids replaced, so the audit log says which endpoint, not which object.
    static func template(_ path: String) -> String {
        path.split(separator: "/", omittingEmptySubsequences: false).map { segment in
            segment.count > 12 || segment.allSatisfy(\.isNumber) && !segment.isEmpty ? "…" : String(segment)
        }.joined(separator: "/")
    }
}

extension Dictionary where Key == String, Value == Any {
    /// `object["a"]` as a string (numbers are rendered without a fraction).
    public func string(_ key: String) -> String? {
        switch self[key] {
        case let text as String: text
        case let number as NSNumber: number.stringValue
        default: nil
        }
    }
}
