/// A field that RFC 8461 does not define, in a TXT record (`name=value`) or a policy (`name: value`).
/// Senders must accept and ignore such fields (RFC 8461 §3.2); we keep them so that serialising gives
/// back what was read.
public struct ExtensionField: Hashable, Sendable {
    public let name: String
    public let value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}
