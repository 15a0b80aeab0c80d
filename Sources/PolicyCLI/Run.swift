import ArgumentParser
import Foundation
import Glibc
import Logging
import MilterAdapter
import PolicyConfig

/// `portcullis run`: the daemon.
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the milter daemon.",
        discussion: """
            SIGTERM, SIGINT and SIGHUP stop the daemon (libmilter owns them). Without --foreground it \
            detaches and logs to syslog (facility mail); with it, it logs to stderr.
            """)

    @OptionGroup var options: ConfigOption

    @Flag(help: "Stay in the foreground and log to stderr.")
    var foreground = false

    @Option(help: "Write the process id to this file (overrides milter.pidfile).")
    var pidfile: String?

    func run() throws {
        // Before any thread exists: libmilter's signal thread must be the only one that receives
        // these, and SIGPIPE from a vanished MTA must not kill us.
        Signals.prepare()
        let configuration = try options.load()

        if !foreground {
            guard daemon(0, 0) == 0 else {
                throw ValidationError("cannot detach: \(String(cString: strerror(errno)))")
            }
        }
        let destination: LogDestination = foreground ? .standardError : .syslog
        if destination == .syslog {
            KeyValueLogHandler.openSyslog(ident: configuration.log.syslogIdent, facility: configuration.log.syslogFacility)
        }
        let level = Logger.Level(rawValue: configuration.log.level) ?? .info
        let logger = Logger(label: "portcullis") { _ in KeyValueLogHandler(level: level, destination: destination) }

        let milter = configuration.milter
        var unixPath: String? = nil
        if case .unix(let path) = milter.socket { unixPath = path }
        let settings = ListenerSettings(
            connection: milter.socket.description, unixPath: unixPath, socketMode: milter.socketMode,
            socketGroup: milter.socketGroup, user: milter.user, pidfile: pidfile ?? milter.pidfile,
            timeoutSeconds: Int32(clamping: milter.timeout.components.seconds), backlog: Int32(milter.backlog))
        let resolver = try Resolvers.start(for: configuration, logger: logger)
        defer { resolver?.shutdown() }
        let greylist = try GreylistStores.start(for: configuration, logger: logger)
        defer { if let greylist { Blocking.run { await greylist.close() } } }
        do {
            try MilterServer.run(settings, runtime: Runtime(engine: configuration.makeEngine(), logger: logger))
        } catch {
            logger.critical("cannot start", metadata: ["error": "\(error.description)"])
            throw ExitCode(71)  // EX_OSERR
        }
    }
}

/// Process-wide signal set-up for the daemon.
enum Signals {
    static func prepare() {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in [SIGHUP, SIGTERM, SIGINT] { sigaddset(&set, signal) }
        pthread_sigmask(SIG_BLOCK, &set, nil)
        signal(SIGPIPE, SIG_IGN)
        // Reserved for reload; until then it must not kill the daemon.
        signal(SIGUSR1, SIG_IGN)
    }
}
