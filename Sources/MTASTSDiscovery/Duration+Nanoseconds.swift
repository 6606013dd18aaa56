extension Duration {
    /// The duration in whole nanoseconds, for APIs that count time that way (NIO's `TimeAmount`, Dispatch).
    public var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }

    /// The duration in milliseconds, for display.
    public var milliseconds: Double { Double(nanoseconds) / 1_000_000 }
}
