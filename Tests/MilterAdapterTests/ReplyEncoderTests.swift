@testable import MilterAdapter
import PolicyCore
import Testing

@Suite struct ReplyEncoderTests {
    @Test func percentIsDoubled() {
        #expect(ReplyEncoder.escape("100% sure, 50%% off") == "100%% sure, 50%%%% off")
        #expect(ReplyEncoder.escape("no\r\nsplit\0") == "no  split ")
    }

    @Test func statusComesFromTheCode() {
        #expect(ReplyEncoder.status(for: .greylisted) == ReplyEncoder.status(for: .internalError))
        #expect(ReplyEncoder.status(for: .senderDenied) != ReplyEncoder.status(for: .greylisted))
    }

    @Test func negotiationAsksOnlyForWhatChecksNeed() {
        let all: UInt = 0x1FFFFF
        let envelopeOnly = Negotiation(activeStages: [.connect, .mail], offeredActions: 0x1FF, offeredProtocol: all)
        let content = Negotiation(activeStages: [.mail, .endOfMessage], offeredActions: 0x1FF, offeredProtocol: all)
        // NOBODY (0x10), NOHDRS (0x20), NOEOH (0x40), NODATA (0x200), NOUNKNOWN (0x100)
        #expect(envelopeOnly.protocolFlags & 0x370 == 0x370)
        #expect(content.protocolFlags & 0x30 == 0)
        #expect(content.protocolFlags & 0x40 != 0)
        // SETSYMLIST only when the MTA offers it.
        #expect(envelopeOnly.actions & 0x100 != 0)
        #expect(Negotiation(activeStages: [], offeredActions: 0x1, offeredProtocol: all).actions == 0x1)
    }
}
