import Foundation

/// An RFC 8555 ACME client: one account key, one server. The protocol is here; the bytes travel through an
/// ``ACMETransport``, and waiting (Retry-After) through an injected sleep, so every path runs in unit tests.
///
/// Nonces (§7.2): the Replay-Nonce of every response is kept for the next request; only when none is left is
/// one fetched (HEAD newNonce). A request refused with `badNonce` (§6.5) is signed again with the fresh nonce of
/// that refusal, a bounded number of times.
public actor ACMEClient {
    public struct Settings: Sendable {
        /// How many times one request is re-signed after `badNonce`.
        public var badNonceRetries: Int
        /// Polling: the wait between two polls when the server sends no Retry-After, and the bounds any
        /// Retry-After is clamped to (a server asking for an hour must not stall issuance for an hour).
        public var pollInterval: Duration
        public var minPollInterval: Duration
        public var maxPollInterval: Duration
        /// The longest one authorization or order is polled before ``ACMEClientError/timedOut(_:)``.
        public var maxPollWait: Duration

        public init(badNonceRetries: Int = 5, pollInterval: Duration = .seconds(2), minPollInterval: Duration = .seconds(1),
                    maxPollInterval: Duration = .seconds(30), maxPollWait: Duration = .seconds(300)) {
            self.badNonceRetries = badNonceRetries
            self.pollInterval = pollInterval
            self.minPollInterval = minPollInterval
            self.maxPollInterval = maxPollInterval
            self.maxPollWait = maxPollWait
        }
    }

    public let directoryURL: String
    public let accountKey: AccountKey
    public let settings: Settings
    let transport: any ACMETransport
    let sleep: @Sendable (Duration) async throws -> Void
    let now: @Sendable () -> Date
    private var cachedDirectory: ACMEDirectory?
    private var nonces: [String] = []
    /// The account URL: the `kid` of every request after newAccount.
    public private(set) var accountURL: String?

    public init(directoryURL: String, accountKey: AccountKey, transport: any ACMETransport, accountURL: String? = nil,
                settings: Settings = .init(),
                sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) },
                now: @escaping @Sendable () -> Date = { Date() }) {
        self.directoryURL = directoryURL
        self.accountKey = accountKey
        self.transport = transport
        self.accountURL = accountURL
        self.settings = settings
        self.sleep = sleep
        self.now = now
    }

    /// §7.1.1: fetched once, then kept.
    public func directory() async throws -> ACMEDirectory {
        if let cachedDirectory { return cachedDirectory }
        let response = try await exchange(ACMERequest(method: .get, url: directoryURL))
        guard response.status == 200 else { throw ACMEProblem.from(response) }
        let directory = try JSONDecoder.acme(ACMEDirectory.self, from: response.body, what: "the directory")
        cachedDirectory = directory
        return directory
    }

    // MARK: Accounts (§7.3)

    /// Creates the account, or returns the existing one for this key (the server answers 200 with its Location).
    public func createAccount(contact: [String] = [], termsOfServiceAgreed: Bool = true) async throws -> ACMEAccount {
        var payload: [String: Any] = ["termsOfServiceAgreed": termsOfServiceAgreed]
        if !contact.isEmpty { payload["contact"] = contact }
        return try await accountRequest(payload)
    }

    /// §7.3.1: the existing account of this key; throws the server's `accountDoesNotExist` problem when there is none.
    public func findAccount() async throws -> ACMEAccount {
        try await accountRequest(["onlyReturnExisting": true])
    }

    /// §7.3.6: deactivates this key's account, for good (the CA refuses its later requests with `unauthorized`). The
    /// account must be known first (``createAccount(contact:termsOfServiceAgreed:)`` or ``findAccount()``).
    public func deactivateAccount() async throws -> ACMEAccount {
        guard let accountURL else { throw ACMEClientError.noAccount }
        let response = try await post(accountURL, payload: try JWS.payload(["status": "deactivated"]))
        var account = try JSONDecoder.acme(ACMEAccount.self, from: response.body, what: "the account")
        account.url = accountURL
        return account
    }

    private func accountRequest(_ payload: [String: Any]) async throws -> ACMEAccount {
        let url = try await directory().newAccount
        let response = try await post(url, payload: try JWS.payload(payload), keyID: .jwk)
        guard let location = response.location else { throw ACMEClientError.badResponse("newAccount answered without a Location") }
        var account = try JSONDecoder.acme(ACMEAccount.self, from: response.body, what: "the account")
        account.url = location
        accountURL = location
        return account
    }

    // MARK: Signed requests

    /// A signed POST (or POST-as-GET when `payload` is nil) that succeeded (2xx); a problem document otherwise.
    func post(_ url: String, payload: [UInt8]?, keyID: JWS.KeyID? = nil, accept: String? = nil) async throws -> ACMEResponse {
        let signer: JWS.KeyID
        if let keyID { signer = keyID } else {
            guard let accountURL else { throw ACMEClientError.noAccount }
            signer = .kid(accountURL)
        }
        var attempt = 0
        while true {
            let nonce = try await takeNonce()
            let body = try JWS.body(payload: payload, url: url, nonce: nonce, key: accountKey, keyID: signer)
            var headers = [(name: "Content-Type", value: "application/jose+json")]
            if let accept { headers.append((name: "Accept", value: accept)) }
            let response = try await exchange(ACMERequest(method: .post, url: url, headers: headers, body: body))
            if (200..<300).contains(response.status) { return response }
            let problem = ACMEProblem.from(response)
            // §6.5: the refusal carries a fresh nonce (kept by `exchange`); sign again with it.
            if problem.isACME("badNonce"), attempt < settings.badNonceRetries {
                attempt += 1
                continue
            }
            throw problem
        }
    }

    /// A POST-as-GET (§6.3) decoded as an object.
    func fetch<T: Decodable>(_ type: T.Type, at url: String, what: String) async throws -> T {
        try JSONDecoder.acme(type, from: try await post(url, payload: nil).body, what: what)
    }

    /// One exchange; the response's nonce, if any, is kept for the next request.
    func exchange(_ request: ACMERequest) async throws -> ACMEResponse {
        let response = try await transport.send(request)
        if let nonce = response.replayNonce, !nonce.isEmpty {
            nonces.append(nonce)
            // The newest is used first; old ones only go stale (a long-running client would pile them up).
            if nonces.count > 8 { nonces.removeFirst(nonces.count - 8) }
        }
        return response
    }

    private func takeNonce() async throws -> String {
        if let nonce = nonces.popLast() { return nonce }
        let url = try await directory().newNonce
        let response = try await exchange(ACMERequest(method: .head, url: url))
        guard let nonce = nonces.popLast() else {
            throw ACMEClientError.badResponse("newNonce answered HTTP \(response.status) without a Replay-Nonce")
        }
        return nonce
    }

    /// The wait before the next poll: the server's Retry-After clamped to the settings' bounds, else the default.
    func pollDelay(after response: ACMEResponse) -> Duration {
        guard let asked = response.retryAfter(now: now()) else { return settings.pollInterval }
        return min(max(asked, settings.minPollInterval), settings.maxPollInterval)
    }
}
