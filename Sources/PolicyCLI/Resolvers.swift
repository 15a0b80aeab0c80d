import ArgumentParser
import DNSResolverC
import Logging
import PolicyConfig
import PolicyCore

/// Starts the libunbound resolver a configuration asks for, installs it in the configuration's
/// slot, and routes check warnings to the log. Starts nothing when no enabled check asks the DNS.
enum Resolvers {
    static func start(for configuration: Configuration, logger: Logger, always: Bool = false) throws -> UnboundResolver? {
        configuration.warnings.install { message in logger.warning("\(message)") }
        guard configuration.needsResolver || always else { return nil }
        let mode: ResolverSettings.Mode
        switch configuration.dns.mode {
        case .system: mode = .system
        case .recursive: mode = .recursive
        case .forwarders(let servers): mode = .forwarders(servers)
        }
        let settings = ResolverSettings(
            mode: mode, timeout: configuration.dns.timeout, transparentZones: configuration.dns.transparentZones)
        do {
            let resolver = try UnboundResolver(settings)
            configuration.resolver.install(TracingResolver(resolver))
            return resolver
        } catch {
            logger.critical("cannot start the DNS resolver", metadata: ["error": "\(error)"])
            throw ExitCode(71)
        }
    }
}
