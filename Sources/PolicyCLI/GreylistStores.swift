import ArgumentParser
import Dispatch
import Foundation
import Logging
import PolicyConfig
import PolicyCore
import StorePostgres
import StoreSQLite

/// Opens the greylist store a configuration names: the composition root's only knowledge of
/// the two backends.
enum GreylistStores {
    /// An open store and how to close it.
    struct Opened {
        let store: any GreylistStore
        let close: @Sendable () async -> Void
    }

    static func open(_ settings: GreylistSettings, logger: Logger) async throws(StoreError) -> Opened {
        switch settings.backend {
        case .sqlite(let path, let moveAside):
            let store = try SQLiteGreylistStore(path: path, moveAsideIfCorrupt: moveAside)
            for note in store.notes { logger.warning("\(note)") }
            return Opened(store: store, close: {})
        case .postgresql(let url):
            // postgres-nio reports every failed connection attempt at info, several a second
            // while the server is down; the check's own warning (once a minute) says it instead.
            var quiet = logger
            quiet.logLevel = max(logger.logLevel, .warning)
            let store = try await PostgresGreylistStore(url: url, logger: quiet)
            return Opened(store: store, close: { await store.shutdown() })
        }
    }

    /// For the daemon: opens the store from the main thread (before `smfi_main`), installs it,
    /// and starts the periodic purge. A store that cannot be opened stops the start, with the
    /// reason (a corrupt file, a refused connection): mail must not flow on a half-configured MX.
    static func start(for configuration: Configuration, logger: Logger) throws -> Opened? {
        guard configuration.greylist.inUse else { return nil }
        let settings = configuration.greylist
        let result = Blocking.run { () async -> Result<Opened, StoreError> in
            do throws(StoreError) {
                return .success(try await open(settings, logger: logger))
            } catch {
                return .failure(error)
            }
        }
        switch result {
        case .failure(let error):
            logger.critical("cannot open the greylist store", metadata: ["error": "\(error)"])
            throw ExitCode(71)
        case .success(let opened):
            configuration.greylistStore.install(opened.store)
            Task.detached {
                while !Task.isCancelled {
                    try? await Task.sleep(for: settings.purgeInterval)
                    do {
                        let now = Int64(Date().timeIntervalSince1970)
                        let removed = try await opened.store.purge(at: now, timing: settings.timing, olderThan: nil)
                        logger.debug("greylist purge", metadata: ["removed": "\(removed)"])
                    } catch {
                        logger.warning("greylist purge failed", metadata: ["error": "\(error)"])
                    }
                }
            }
            return opened
        }
    }
}

/// Runs async work from a thread that is not part of the Swift cooperative pool (the main
/// thread at start-up) and waits for it.
enum Blocking {
    static func run<T: Sendable>(_ work: @escaping @Sendable () async -> T) -> T {
        let box = Box<T>()
        let done = DispatchSemaphore(value: 0)
        Task {
            box.value = await work()
            done.signal()
        }
        done.wait()
        return box.value!
    }

    /// Written by the task before it signals, read by the waiting thread after: the semaphore
    /// orders the two accesses.
    final class Box<T>: @unchecked Sendable {
        var value: T?
    }
}
