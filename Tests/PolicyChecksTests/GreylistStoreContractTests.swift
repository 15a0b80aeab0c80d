import PolicyCore
import PolicyTesting
import Testing

@Suite struct InMemoryGreylistStoreContractTests {
    @Test(arguments: GreylistStoreContract.cases)
    func contract(_ name: String) async throws {
        try await GreylistStoreContract.run(name, on: InMemoryGreylistStore())
    }
}
