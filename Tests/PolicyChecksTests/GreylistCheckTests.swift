import PolicyChecks
import PolicyCore
import PolicyEngine
import PolicyTesting
import Synchronization
import Testing

/// A wall clock the test moves by hand.
final class ManualClock: Sendable {
    private let seconds = Mutex<Int64>(1_800_000_000)
    var now: @Sendable () -> Int64 { { [self] in self.seconds.withLock { $0 } } }
    func advance(_ by: Int64) { seconds.withLock { $0 += by } }
}

@Suite struct GreylistKeyTests {
    @Test(arguments: [
        ("<>", "<>"),
        ("User@Example.ORG", "user@example.org"),
        ("user+tag@example.org", "user@example.org"),
        ("prvs=1234abcd=user@example.org", "user@example.org"),
        ("SRS0=HHH=TT=orig.example=alice@forwarder.example", "alice@orig.example"),
        ("SRS1=HHH=fwd.example==HHH=TT=orig.example=alice@forwarder.example", "alice@orig.example"),
        ("bounce-12345-678@lists.example.org", "bounce-#-#@lists.example.org"),
    ])
    func sendersAreNormalised(_ sender: String, _ expected: String) {
        #expect(GreylistKey.normalizedSender(EnvelopeAddress(sender)) == expected)
    }

    @Test func networksUseThePrefixes() {
        let key = GreylistKey()
        #expect(key.network(IPAddress("192.0.2.77")!) == "192.0.2.0/24")
        #expect(key.network(IPAddress("2001:db8:1:2:3:4:5:6")!) == "2001:db8:1:2::/64")
        #expect(GreylistKey(ipv4Prefix: 32).network(IPAddress("192.0.2.77")!) == "192.0.2.77/32")
    }
}

@Suite struct GreylistCheckTests {
    let store = InMemoryGreylistStore()
    let clock = ManualClock()

    func check(_ configure: (inout GreylistCheck.Policy) -> Void = { _ in }, atData: Bool = false) -> GreylistCheck {
        var policy = GreylistCheck.Policy()
        configure(&policy)
        return GreylistCheck(store: store, policy: policy, decideAtData: atData, now: clock.now)
    }

    func tx(_ ip: String = "192.0.2.10", from: String = "a@example.org", rcpt: String = "b@example.test") -> Transaction {
        TransactionBuilder().client(ip).helo("mx.example.org").from(from).rcpt(rcpt).build()
    }

    func isGreylisted(_ verdict: Verdict) -> Bool {
        if case .reject(let reply, _) = verdict { return reply == .greylisted }
        return false
    }

    @Test func newThenTooEarlyThenPassedThenRemembered() async throws {
        let c = check()
        let first = try await c.evaluate(tx())
        #expect(isGreylisted(first))
        if case .reject(_, let because) = first { #expect(because.contains("new triplet")) }
        clock.advance(60)
        let early = try await c.evaluate(tx())
        if case .reject(_, let because) = early { #expect(because.contains("too early (240 s left")) } else {
            Issue.record("a retry before the delay must be greylisted")
        }
        clock.advance(241)
        #expect(try await c.evaluate(tx()) == .note("greylist", "passed"))
        clock.advance(86_400 * 10)
        #expect(try await c.evaluate(tx()) == .note("greylist", "passed"))
        // Another host in the same /24 shares the triplet.
        #expect(try await c.evaluate(tx("192.0.2.99")) == .note("greylist", "passed"))
    }

    @Test func networksThatPassedOftenAreNotGreylisted() async throws {
        let c = check()
        for hour in 0..<5 {
            _ = try await c.evaluate(tx(rcpt: "r\(hour)@example.test"))
            clock.advance(301)
            _ = try await c.evaluate(tx(rcpt: "r\(hour)@example.test"))
            clock.advance(3600)
        }
        let verdict = try await c.evaluate(tx(rcpt: "someone-new@example.test"))
        guard case .note(_, let why) = verdict, why.hasPrefix("auto-allowlisted") else {
            Issue.record("expected auto-allowlisting, got \(verdict)")
            return
        }
    }

    @Test func skipsAuthenticatedTrustedAndAllowed() async throws {
        var authenticated = tx()
        authenticated.macros["auth_authen"] = "alice"
        #expect(!isGreylisted(try await check().evaluate(authenticated)))
        #expect(!isGreylisted(try await check { try? $0.skipNetworks.add("192.0.2.0/24") }.evaluate(tx())))
        try await store.addAllowEntry("example.org", at: 0)
        #expect(!isGreylisted(try await check().evaluate(tx())))
        #expect(isGreylisted(try await check().evaluate(tx(from: "a@other.example"))))
        var spf = tx(from: "a@bank.example")
        spf.facts = ["spf": "pass", "spf_domain": "mail.bank.example"]
        #expect(!isGreylisted(try await check { $0.skipSPFPassDomains = ["bank.example"] }.evaluate(spf)))
    }

    @Test func atDataEveryRecipientMustHavePassed() async throws {
        let c = check(atData: true)
        #expect(c.stage == .data)
        var message = tx()
        message.recipients = [EnvelopeAddress("b@example.test"), EnvelopeAddress("c@example.test")]
        #expect(isGreylisted(try await c.evaluate(message)))
        clock.advance(301)
        #expect(try await c.evaluate(message) == .note("greylist", "passed"))
        message.recipients.append(EnvelopeAddress("new@example.test"))
        #expect(isGreylisted(try await c.evaluate(message)))
    }

    @Test func aStoreThatIsDownThrowsForOnError() async {
        store.failure.withLock { $0 = .unavailable("database is locked") }
        await #expect(throws: StoreError.self) { try await check().evaluate(tx()) }
    }
}
