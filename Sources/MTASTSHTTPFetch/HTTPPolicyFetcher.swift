import AsyncHTTPClient
import Foundation
import MTASTSCore
import MTASTSDiscovery
import NIOCore
import NIOPosix
import NIOSSL

/// The strict RFC 8461 §3.3 policy fetch on AsyncHTTPClient.
///
/// - HTTPS only, to `https://<host>/.well-known/mta-sts.txt`; SNI and the certificate's DNS-ID are the
///   policy host (AsyncHTTPClient sends SNI from the URL host and NIOSSL checks the name).
/// - TLS 1.2 or later; system trust roots plus any configured extra CA.
/// - Connects to the addresses our `DNSResolver` returned, in order (AsyncHTTPClient's `dnsOverride`, one
///   client per attempt), moving on only when the connection itself fails.
/// - No redirects (a 3xx is a failure), status 200 only, Content-Type `text/plain` (parameters ignored),
///   body capped at 64 KiB while streaming, a **total** deadline over everything, no HTTP cache.
public struct HTTPPolicyFetcher: PolicyFetcher {
    public struct Configuration: Sendable {
        /// PEM file with extra trust roots (in addition to the system's).
        public var extraTrustRootsFile: String?
        /// Deadline for the whole fetch, all addresses together (RFC 8461 §3.3 suggests one minute).
        public var timeout: Duration
        /// Deadline for one TCP + TLS connection attempt.
        public var connectTimeout: Duration
        /// Largest body accepted (RFC 8461 §3.3 suggests 64 KiB).
        public var maxBodyBytes: Int
        /// The port to connect to: 443 everywhere except in a test world that cannot bind it.
        public var port: Int

        public init(extraTrustRootsFile: String? = nil, timeout: Duration = .seconds(STSLimits.fetchTimeoutSeconds),
                    connectTimeout: Duration = .seconds(10), maxBodyBytes: Int = STSLimits.policyBodyCap, port: Int = 443) {
            self.extraTrustRootsFile = extraTrustRootsFile
            self.timeout = timeout
            self.connectTimeout = connectTimeout
            self.maxBodyBytes = maxBodyBytes
            self.port = port
        }
    }

    public struct SetupError: Error, CustomStringConvertible {
        public let description: String
    }

    private let configuration: Configuration
    private let tls: TLSConfiguration

    public init(_ configuration: Configuration = .init()) throws(SetupError) {
        self.configuration = configuration
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12  // RFC 8461 §7.2
        // BoringSSL verifies the chain (trust, expiry); the name is checked by CertificateIdentity after the
        // handshake, because NIOSSL's own check accepts a CN-only certificate and partial-label wildcards.
        tls.certificateVerification = .noHostnameVerification
        if let file = configuration.extraTrustRootsFile {
            do {
                tls.additionalTrustRoots = [.certificates(try NIOSSLCertificate.fromPEMFile(file))]
            } catch {
                throw SetupError(description: "cannot read CA file \(file): \(error)")
            }
        }
        self.tls = tls
    }

    public func fetch(host: DomainName, addresses: [IPAddress]) async -> PolicyFetchResult {
        let clock = ContinuousClock()
        let deadline = clock.now + configuration.timeout
        var attempts: [PolicyFetchResult.Attempt] = []
        var last = FetchFailure(code: "host-not-found", message: "no address to connect to")
        for address in addresses {
            let remaining = deadline - clock.now
            guard remaining > .zero else {
                last = .timeout(configuration.timeout)
                break
            }
            let start = clock.now
            let outcome = await attempt(host: host, address: address, within: remaining)
            let elapsed = clock.now - start
            switch outcome {
            case .success(let (body, summary)):
                attempts.append(.init(address: address, summary: summary, elapsed: elapsed))
                return PolicyFetchResult(.body(body), attempts: attempts)
            case .failure(var failure):
                if failure.code == "tls-certificate-invalid" {
                    failure = await CertificateInspector.explain(host: host, address: address, port: configuration.port,
                                                                 extraRoots: tls.additionalTrustRoots, fallback: failure)
                }
                attempts.append(.init(address: address, summary: failure.message, elapsed: elapsed))
                last = failure
                if !failure.isConnectFailure { return PolicyFetchResult(.failure(failure), attempts: attempts) }
            }
        }
        return PolicyFetchResult(.failure(last), attempts: attempts)
    }

    /// One GET at one address, bounded by `limit` from connect to the last body byte.
    private func attempt(host: DomainName, address: IPAddress, within limit: Duration) async -> Result<([UInt8], String), FetchFailure> {
        var config = HTTPClient.Configuration(
            tlsConfiguration: tls,
            redirectConfiguration: .disallow,  // RFC 8461 §3.3: MUST NOT follow redirects
            timeout: .init(connect: .init(min(configuration.connectTimeout, limit)), read: .init(limit)),
            decompression: .disabled
        )
        config.dnsOverride = [host.value: address.description]
        config.httpVersion = .http1Only
        // One connection attempt per address: a refused port or a bad certificate fails at once with its own
        // error instead of being retried until the connect timeout; `fetch` moves through the addresses.
        config.connectionPool.retryConnectionEstablishment = false
        // Runs after the TLS handshake and before the request is sent; failing it fails the connection.
        config.http1_1ConnectionDebugInitializer = { channel in
            channel.eventLoop.makeCompletedFuture {
                let leaf = try channel.pipeline.syncOperations.handler(type: NIOSSLClientHandler.self).peerCertificate
                let names = leaf.map(dnsNames) ?? []
                // RFC 8461 §3.3: the certificate must be valid for the policy host (a SAN DNS-ID, no CN fallback).
                guard CertificateIdentity.covers(names, host: host) else { throw CertificateNameMismatch(host: host, names: names) }
            }
        }
        let client = HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton, configuration: config)
        defer { Task { try? await client.shutdown() } }

        let url = "https://\(host.value)\(configuration.port == 443 ? "" : ":\(configuration.port)")\(policyPath)"
        let maxBody = configuration.maxBodyBytes
        let total = configuration.timeout
        do {
            return try await withThrowingTaskGroup(of: Result<([UInt8], String), FetchFailure>.self) { group in
                group.addTask {
                    var request = HTTPClientRequest(url: url)
                    request.method = .GET
                    request.headers.add(name: "User-Agent", value: "mta-sts/0.1 (RFC 8461 policy fetch)")
                    request.headers.add(name: "Cache-Control", value: "no-cache")
                    let response = try await client.execute(request, timeout: .init(limit))
                    let status = Int(response.status.code)
                    if (300..<400).contains(status) {
                        return .failure(.redirect(status, location: response.headers.first(name: "Location")))
                    }
                    guard status == 200 else { return .failure(.status(status)) }
                    let contentType = response.headers.first(name: "Content-Type")
                    guard let contentType, FetchFailure.isTextPlain(contentType) else { return .failure(.contentType(contentType)) }
                    let body = try await response.body.collect(upTo: maxBody)
                    let bytes = Array(body.readableBytesView)
                    return .success((bytes, "200 \(contentType), \(bytes.count) bytes"))
                }
                group.addTask {
                    try await Task.sleep(for: limit)
                    return .failure(.timeout(total))
                }
                let first = try await group.next()!
                group.cancelAll()
                return first
            }
        } catch {
            return .failure(Self.classify(error, limit: total))
        }
    }

    /// Maps transport errors to our failure codes.
    static func classify(_ error: any Error, limit: Duration) -> FetchFailure {
        if error is NIOTooManyBytesError { return .tooLarge(limit: STSLimits.policyBodyCap) }
        if let e = error as? CertificateNameMismatch {
            let shown = e.names.isEmpty ? "no DNS names (a name only in the subject CN does not count)" : e.names.joined(separator: ", ")
            return FetchFailure(code: "tls-certificate-name",
                                message: "the certificate presented for \(e.host) is for \(shown), not \(e.host) (RFC 8461 §3.3)",
                                isWebPKI: true)
        }
        if let e = error as? NIOSSLExtraError, e == .failedToValidateHostname {
            return FetchFailure(code: "tls-certificate-name", message: "the certificate is not valid for the policy host (\(e))", isWebPKI: true)
        }
        if let e = error as? NIOSSLError {
            let text = String(describing: e)
            if text.contains("CERTIFICATE_VERIFY_FAILED") {
                return FetchFailure(code: "tls-certificate-invalid", message: "the certificate failed verification", isWebPKI: true)
            }
            return FetchFailure(code: "tls-handshake", message: "TLS handshake failed: \(boringSSLReason(text))")
        }
        if let e = error as? HTTPClientError {
            switch e {
            case .readTimeout, .deadlineExceeded: return .timeout(limit)
            case .connectTimeout, .remoteConnectionClosed, .tlsHandshakeTimeout:
                return FetchFailure(code: "connect-failed", message: "could not connect: \(e)", isConnectFailure: true)
            case .bodyLengthMismatch:
                return FetchFailure(code: "http-body", message: "the body was cut short: \(e)")
            default:
                return FetchFailure(code: "http-error", message: "\(e)")
            }
        }
        if error is CancellationError { return .timeout(limit) }
        if let e = error as? IOError {
            return FetchFailure(code: "connect-failed", message: "could not connect: \(String(cString: strerror(e.errnoCode)))",
                                isConnectFailure: true)
        }
        let text = String(describing: error)
        if text.contains("connect") || text.contains("Connection refused") || text.contains("unreachable") {
            return FetchFailure(code: "connect-failed", message: "could not connect: \(text)", isConnectFailure: true)
        }
        return FetchFailure(code: "http-error", message: text)
    }
}

/// The SAN dNSName entries of a certificate.
func dnsNames(_ certificate: NIOSSLCertificate) -> [String] {
    certificate._subjectAlternativeNames().compactMap { name in
        name.nameType == .dnsName ? String(decoding: name.contents, as: UTF8.self) : nil
    }
}

/// The certificate's DNS names do not cover the host (see `CertificateIdentity`).
struct CertificateNameMismatch: Error {
    let host: DomainName
    let names: [String]
}

/// The reason token of a BoringSSL error text (`...:OPENSSL_internal:TLSV1_ALERT_PROTOCOL_VERSION at ...`),
/// explained where it is a common one.
func boringSSLReason(_ text: String) -> String {
    guard let range = text.range(of: "OPENSSL_internal:") else { return text }
    let token = text[range.upperBound...].prefix { $0 != " " && $0 != "]" && $0 != ")" }
    switch token {
    case "TLSV1_ALERT_PROTOCOL_VERSION", "UNSUPPORTED_PROTOCOL":
        return "the server does not offer TLS 1.2 or later (\(token); RFC 8461 §7.2 requires TLS 1.2)"
    case "WRONG_VERSION_NUMBER":
        return "the server does not speak TLS on this port (\(token))"
    default:
        return String(token)
    }
}

extension TimeAmount {
    init(_ duration: Duration) {
        let (seconds, atto) = duration.components
        self = .nanoseconds(seconds * 1_000_000_000 + atto / 1_000_000_000)
    }
}
