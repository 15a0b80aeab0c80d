import PolicyCore
import PolicyTesting
import StoreSQLite
import Testing

/// The shared store contract, each case on a fresh database file.
@Suite struct SQLiteGreylistStoreContractTests {
    @Test(arguments: GreylistStoreContract.cases)
    func contract(_ name: String) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try SQLiteGreylistStore(path: directory.file("greylist.sqlite"))
        try await GreylistStoreContract.run(name, on: store)
    }
}
