#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOPosix

extension ServerBootstrap {
    /// Binds a listening socket to `host:port`, as every role's listeners do (policy host, socketmap, admin).
    ///
    /// An IPv6 socket is made IPv6-only (`IPV6_V6ONLY`). Linux's default (`net.ipv6.bindv6only = 0`) makes `[::]`
    /// dual-stack, so the documented pair `0.0.0.0:443` and `[::]:443` would collide with `Address already in use`;
    /// with it, each family has its own socket, as nginx and Postfix bind them.
    public func bindListening(host: String, port: Int) async throws -> any Channel {
        let address = try SocketAddress.makeAddressResolvingHost(host, port: port)
        if case .v6 = address {
            _ = serverChannelOption(ChannelOptions.Types.SocketOption(level: .ipv6, name: .ipv6_v6only), value: 1)
        }
        return try await bind(to: address).get()
    }
}

/// Process limits of the long-running roles.
public enum ProcessLimits {
    /// Raises the soft limit on open descriptors to the hard one, so that thousands of clients (or
    /// connections of our own) cannot run a daemon out of descriptors at the default soft limit of 1024.
    /// Returns the soft limit now in force.
    @discardableResult
    public static func raiseOpenFiles() -> UInt64 {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 0 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &raised) == 0 { return UInt64(raised.rlim_cur) }
        }
        return UInt64(limit.rlim_cur)
    }
}
