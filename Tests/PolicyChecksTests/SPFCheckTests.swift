import PolicyChecks
import PolicyCore
import PolicyEngine
import PolicyTesting
import SPF
import Testing

@Suite struct SPFCheckTests {
    let zone = FakeZone()

    init() {
        zone.set("pass.example.test", .txt, "v=spf1 ip4:192.0.2.20 -all")
        zone.set("fail.example.test", .txt, "v=spf1 ip4:192.0.2.99 -all exp=explain.example.test")
        zone.set("explain.example.test", .txt, "%{i} is not one of %{d}'s designated mail servers.")
        zone.set("soft.example.test", .txt, "v=spf1 ~all")
        zone.set("helo.example.test", .txt, "v=spf1 ip4:192.0.2.20 -all")
        zone.fail("slow.example.test", .txt, .timeout(name: "slow.example.test", type: .txt))
    }

    func check(_ configure: (inout SPFCheck.Policy) -> Void = { _ in }) -> SPFCheck {
        var policy = SPFCheck.Policy()
        policy.authservID = "mx.example.test"
        configure(&policy)
        return SPFCheck(evaluator: SPFEvaluator(resolver: zone), policy: policy)
    }

    func tx(_ ip: String, _ from: String, helo: String = "mail.example.org") -> Transaction {
        TransactionBuilder().client(ip).helo(helo).from(from).build()
    }

    @Test func passIsRecordedInBothHeaders() async throws {
        let verdict = try await check().evaluate(tx("192.0.2.20", "a@pass.example.test"))
        guard case .annotate(let fields, _) = verdict else {
            Issue.record("expected headers, got \(verdict)")
            return
        }
        #expect(fields.map(\.name) == ["Received-SPF", "Authentication-Results"])
        #expect(fields[0].value.hasPrefix("pass (mx.example.test: domain of a@pass.example.test designates 192.0.2.20"))
        #expect(fields[0].value.contains("client-ip=192.0.2.20; envelope-from=\"a@pass.example.test\""))
        #expect(fields[0].value.contains("identity=mailfrom;"))
        #expect(fields[1].value == "mx.example.test; spf=pass smtp.mailfrom=a@pass.example.test")
    }

    @Test func failIsRefusedWithTheCatalogueReplyAndOptionallyTheExplanation() async throws {
        let plain = try await check().evaluate(tx("192.0.2.21", "a@fail.example.test"))
        #expect(replyOf(plain) == .spfFail)
        let explained = try await check { $0.appendExplanation = true }.evaluate(tx("192.0.2.21", "a@fail.example.test"))
        #expect(replyOf(explained)?.lines == ["Blocked by SPF", "192.0.2.21 is not one of fail.example.test's designated mail servers."])
        let deferred = try await check { $0.actions[.fail] = .tempfail }.evaluate(tx("192.0.2.21", "a@fail.example.test"))
        #expect(replyOf(deferred)?.description == "451 4.7.23 SPF check did not pass for fail.example.test, please try again later")
    }

    @Test func softfailIsAcceptedWithHeadersByDefault() async throws {
        guard case .annotate(let fields, _) = try await check().evaluate(tx("192.0.2.21", "a@soft.example.test")) else {
            Issue.record("expected headers")
            return
        }
        #expect(fields[0].value.hasPrefix("softfail "))
        #expect(replyOf(try await check { $0.actions[.softfail] = .reject }.evaluate(tx("192.0.2.21", "a@soft.example.test"))) == .spfFail)
    }

    @Test func temperrorTempfailsWithItsOwnReply() async throws {
        let verdict = try await check().evaluate(tx("192.0.2.21", "a@slow.example.test"))
        #expect(replyOf(verdict)?.description == "451 4.7.24 SPF check temporarily failed for slow.example.test, please try again later")
    }

    @Test func theNullSenderIsJudgedByItsHelo() async throws {
        guard case .annotate(let fields, _) = try await check().evaluate(tx("192.0.2.20", "<>", helo: "helo.example.test")) else {
            Issue.record("expected headers")
            return
        }
        #expect(fields[0].value.contains("identity=helo;"))
        #expect(fields[1].value == "mx.example.test; spf=pass smtp.helo=helo.example.test")
        #expect(replyOf(try await check().evaluate(tx("192.0.2.21", "<>", helo: "helo.example.test"))) == .spfFail)
    }

    @Test func heloFirstFailDecides() async throws {
        let verdict = try await check { $0.heloFirst = true }.evaluate(tx("192.0.2.21", "a@pass.example.test", helo: "helo.example.test"))
        #expect(replyOf(verdict) == .spfFail)
    }

    @Test func trustedRelaysSkipSPF() async throws {
        let verdict = try await check { try? $0.trusted.add("192.0.2.0/24") }.evaluate(tx("192.0.2.21", "a@fail.example.test"))
        guard case .note = verdict else {
            Issue.record("expected a skip, got \(verdict)")
            return
        }
    }

    @Test func headerValuesCannotBeBrokenByTheClient() async throws {
        let verdict = try await check().evaluate(tx("192.0.2.21", "a@soft.example.test", helo: "evil\"; x=(y)\\"))
        guard case .annotate(let fields, _) = verdict else {
            Issue.record("expected headers")
            return
        }
        #expect(fields[0].value.contains("helo=\"evil___x=_y__\""))
    }
}
