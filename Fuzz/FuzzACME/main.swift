// libFuzzer harness for the ACME client's reading of server responses (RFC 8555; untrusted bytes from the CA or
// anything between it and us).
//
// Compiled by scripts/fuzz.sh with the pure sources of Sources/MTASTSACME (the objects, problem documents, the
// response's header readers, RFC 9773 renewal information, base64url) into one module; the client actor, JWS
// signing, the CSR and the PEM chain reader need swift-crypto / swift-certificates and are not part of it. Every
// check is an `invariant` (a `fatalError`, which keeps its message in -O).
//
// The same bytes are read every way the client reads a server's answer: as the JSON body of each object (a
// failure is always ``ACMEClientError/badResponse(_:)`` with a reason), as an error response's problem document
// (never without a type or a status), as header lines ("Name: value", one per line) for Replay-Nonce, Link and
// Retry-After, as a status word (a round trip), and as base64url text.
import Foundation

private let now = Date(timeIntervalSince1970: 1_800_000_000)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzACME(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = Array(UnsafeBufferPointer(start: data, count: size))

    // Bodies: each object the client decodes.
    _ = decode(ACMEDirectory.self, input)
    _ = decode(ACMEAccount.self, input)
    if let order = decode(ACMEOrder.self, input) {
        order.error.map { check($0) }
        roundTrip(order.identifiers)
    }
    if let authorization = decode(ACMEAuthorization.self, input) {
        roundTrip([authorization.identifier])
        for challenge in authorization.challenges {
            invariant(authorization.challenge(challenge.type)?.type == challenge.type, "challenge(_:) missed an offered type")
            challenge.error.map { check($0) }
        }
    }
    if let challenge = decode(ACMEChallenge.self, input) { challenge.error.map { check($0) } }

    // An error response: the problem document, or a stand-in naming the status.
    for status in [400, 503] {
        let problem = ACMEProblem.from(ACMEResponse(status: status, body: input))
        check(problem)
        invariant(problem.status != nil, "a problem without a status")
        if (try? JSONDecoder().decode(ACMEProblem.self, from: Data(input))) == nil {
            invariant(problem.type == "about:blank" && problem.status == status && problem.detail?.isEmpty == false,
                      "a body that is no problem document gave \(problem)")
        }
    }

    // The same bytes as headers, and as the body of a renewal-information answer carrying them.
    let response = ACMEResponse(status: 200, headers: headers(input), body: input)
    checkHeaders(response)
    do {
        let info = try ACMERenewalInfo.parse(response, now: now)
        invariant(info.windowEnd > info.windowStart, "a renewal window that ends before it starts")
        invariant(info.retryAfter == response.retryAfter(now: now), "renewal info's Retry-After differs from the header's")
    } catch {
        checkFailure(error)
    }

    // A status word: the known ones by name, anything else kept as it is.
    let text = String(decoding: input, as: UTF8.self)
    let status = ACMEStatus(text)
    invariant(name(status) == text && ACMEStatus(name(status)) == status, "status \(text) did not round-trip")
    invariant(status.isFinal == [.valid, .invalid, .deactivated, .expired, .revoked].contains(status), "isFinal of \(status)")

    // base64url: encoding anything decodes back; decoding any text is total.
    invariant(Base64URL.decode(Base64URL.encode(input)) == input, "base64url round trip")
    if let bytes = Base64URL.decode(text) {
        invariant(Base64URL.decode(Base64URL.encode(bytes)) == bytes, "base64url round trip of decoded text")
    }
    return 0
}

/// JSONDecoder.acme as the client calls it: a value, or a badResponse naming what was expected.
private func decode<T: Decodable>(_ type: T.Type, _ body: [UInt8]) -> T? {
    do { return try JSONDecoder.acme(type, from: body, what: "the object") } catch {
        checkFailure(error)
        return nil
    }
}

private func checkFailure(_ error: any Error) {
    guard case .badResponse(let reason)? = error as? ACMEClientError else { fatalError("invariant violated: unexpected error \(error)") }
    invariant(!reason.isEmpty, "badResponse without a reason")
}

private func check(_ problem: ACMEProblem) {
    // RFC 7807 §3.1: a type always (about:blank when absent); the description leads with it.
    invariant(!problem.type.isEmpty, "a problem without a type")
    invariant(problem.description.hasPrefix(problem.type), "description does not start with the type")
    if let name = problem.acmeName {
        invariant(ACMEProblem.namespace + name == problem.type && problem.isACME(name), "acmeName \(name) of \(problem.type)")
    } else {
        invariant(!problem.type.hasPrefix(ACMEProblem.namespace), "an ACME type without acmeName: \(problem.type)")
    }
    problem.subproblems.forEach { invariant(problem.description.contains($0.type), "a subproblem missing from the description") }
}

/// Identifiers are the one object the client also writes: what it read must come back the same.
private func roundTrip(_ identifiers: [ACMEIdentifier]) {
    guard let json = try? JSONEncoder().encode(identifiers) else { fatalError("invariant violated: identifiers do not encode") }
    invariant((try? JSONDecoder().decode([ACMEIdentifier].self, from: json)) == identifiers, "identifiers did not round-trip")
}

/// "Name: value" per line (LF or CRLF); lines without a colon are skipped.
private func headers(_ input: [UInt8]) -> [(name: String, value: String)] {
    input.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true).compactMap { line in
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { return nil }
        let name = String(decoding: line[..<colon], as: UTF8.self)
        let value = String(decoding: line[(colon + 1)...], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return (name, value)
    }
}

private func checkHeaders(_ response: ACMEResponse) {
    invariant(response.replayNonce == response.header("replay-nonce") && response.header("REPLAY-NONCE") == response.replayNonce,
              "Replay-Nonce lookup is not case-insensitive")
    let links = response.headers.filter { $0.name.caseInsensitiveCompare("Link") == .orderedSame }.map(\.value)
    for rel in ["up", "index", "alternate"] {
        for target in response.links(rel: rel) {
            invariant(links.contains { $0.contains("<" + target + ">") }, "link target \(target) not in any Link header")
        }
    }
    if let wait = response.retryAfter(now: now) {
        invariant(wait >= .zero, "negative Retry-After")
        let value = response.header("Retry-After")?.trimmingCharacters(in: .whitespaces) ?? ""
        if let seconds = Int(value), seconds >= 0 { invariant(wait == .seconds(seconds), "delay-seconds misread") }
    } else if let value = response.header("Retry-After")?.trimmingCharacters(in: .whitespaces), let seconds = Int(value) {
        invariant(seconds < 0, "delay-seconds \(value) ignored")
    }
}

private func name(_ status: ACMEStatus) -> String {
    switch status {
    case .pending: "pending"
    case .ready: "ready"
    case .processing: "processing"
    case .valid: "valid"
    case .invalid: "invalid"
    case .deactivated: "deactivated"
    case .expired: "expired"
    case .revoked: "revoked"
    case .other(let text): text
    }
}

private func invariant(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() { fatalError("invariant violated: \(message())") }
}
