internal import CMilter
import Foundation
import Glibc
import Logging
import PolicyCore

/// Where and how the milter listens; the adapter's view of the `milter:` settings.
public struct ListenerSettings: Sendable {
    /// libmilter's connection string: `unix:/path`, `inet:PORT@HOST`, `inet6:PORT@HOST`.
    public var connection: String
    /// The socket file of a `unix:` connection, nil otherwise.
    public var unixPath: String?
    public var socketMode: UInt32
    public var socketGroup: String?
    public var user: String?
    public var pidfile: String?
    public var timeoutSeconds: Int32
    public var backlog: Int32

    public init(
        connection: String, unixPath: String?, socketMode: UInt32, socketGroup: String?, user: String?,
        pidfile: String?, timeoutSeconds: Int32, backlog: Int32
    ) {
        self.connection = connection
        self.unixPath = unixPath
        self.socketMode = socketMode
        self.socketGroup = socketGroup
        self.user = user
        self.pidfile = pidfile
        self.timeoutSeconds = timeoutSeconds
        self.backlog = backlog
    }
}

/// A start-up failure, with a sentence an operator can act on.
public struct MilterStartupError: Error, CustomStringConvertible {
    public let description: String
}

/// Registers with libmilter, opens the socket, drops privileges and runs `smfi_main`.
///
/// libmilter keeps process-wide state: `smfi_main` runs once per process. It starts its own
/// thread that sigwaits on SIGHUP, SIGTERM and SIGINT, each of which stops it.
public enum MilterServer {
    /// The flags of the actions we may take; negotiation narrows them per connection.
    static let registeredFlags = UInt(SMFIF_ADDHDRS) | UInt(SMFIF_CHGHDRS) | UInt(SMFIF_SETSYMLIST)

    public static func run(_ settings: ListenerSettings, runtime: Runtime) throws(MilterStartupError) {
        let logger = runtime.logger
        Installed.install(runtime)

        if let path = settings.unixPath { try prepareDirectory(for: path, user: settings.user) }
        guard smfi_setconn(strdup(settings.connection)) == MI_SUCCESS else {
            throw MilterStartupError(description: "libmilter refused the socket \(settings.connection)")
        }
        _ = smfi_settimeout(settings.timeoutSeconds)
        _ = smfi_setbacklog(settings.backlog)
        guard let name = strdup("portcullis") else { throw MilterStartupError(description: "out of memory") }
        let descriptor = Callbacks.descriptor(name: name, flags: registeredFlags)
        guard smfi_register(descriptor) == MI_SUCCESS else {
            throw MilterStartupError(description: "smfi_register failed (libmilter version mismatch?)")
        }
        // `true` removes a socket file left behind by an earlier run: libmilter does not unlink it on exit.
        guard smfi_opensocket(true) == MI_SUCCESS else {
            throw MilterStartupError(
                description: "cannot listen on \(settings.connection): \(String(cString: strerror(errno))) (is another instance running?)")
        }
        if let path = settings.unixPath { try setPermissions(path, settings) }
        if let pidfile = settings.pidfile { try writePidfile(pidfile) }
        if let user = settings.user { try dropPrivileges(to: user) }

        logger.notice(
            "listening",
            metadata: [
                "socket": "\(settings.connection)", "checks": "\(runtime.engine.checks.map(\.check.name).joined(separator: ","))",
                "mode": "\(runtime.engine.settings.mode.rawValue)",
            ])
        let status = smfi_main()
        logger.notice("stopped", metadata: ["status": "\(status)"])
        if let path = settings.unixPath { unlink(path) }
        if let pidfile = settings.pidfile { unlink(pidfile) }
        guard status == MI_SUCCESS else { throw MilterStartupError(description: "smfi_main ended with an error") }
    }

    private static func prepareDirectory(for path: String, user: String?) throws(MilterStartupError) {
        let directory = (path as NSString).deletingLastPathComponent
        guard !directory.isEmpty, !FileManager.default.fileExists(atPath: directory) else { return }
        guard mkdir(directory, 0o755) == 0 || errno == EEXIST else {
            throw MilterStartupError(description: "cannot create \(directory): \(String(cString: strerror(errno)))")
        }
        // The daemon removes its socket at exit, after it dropped privileges.
        if let user, let entry = getpwnam(user) { _ = chown(directory, entry.pointee.pw_uid, entry.pointee.pw_gid) }
    }

    private static func setPermissions(_ path: String, _ settings: ListenerSettings) throws(MilterStartupError) {
        if let group = settings.socketGroup {
            guard let entry = getgrnam(group) else {
                throw MilterStartupError(description: "socket_group \(group) does not exist")
            }
            guard chown(path, uid_t.max, entry.pointee.gr_gid) == 0 else {
                throw MilterStartupError(description: "cannot chgrp \(path) to \(group): \(String(cString: strerror(errno)))")
            }
        }
        if let user = settings.user, let entry = getpwnam(user) { _ = chown(path, entry.pointee.pw_uid, gid_t.max) }
        guard chmod(path, mode_t(settings.socketMode)) == 0 else {
            throw MilterStartupError(description: "cannot chmod \(path): \(String(cString: strerror(errno)))")
        }
    }

    private static func writePidfile(_ path: String) throws(MilterStartupError) {
        let text = "\(getpid())\n"
        guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8)) else {
            throw MilterStartupError(description: "cannot write pidfile \(path)")
        }
    }

    private static func dropPrivileges(to user: String) throws(MilterStartupError) {
        guard let entry = getpwnam(user) else { throw MilterStartupError(description: "user \(user) does not exist") }
        let uid = entry.pointee.pw_uid
        let gid = entry.pointee.pw_gid
        if getuid() == uid { return }
        guard initgroups(user, gid) == 0, setgid(gid) == 0, setuid(uid) == 0 else {
            throw MilterStartupError(description: "cannot switch to user \(user): \(String(cString: strerror(errno)))")
        }
    }
}
