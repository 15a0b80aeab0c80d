#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// The MTA side of the milter protocol (version 6), enough to drive the real daemon through its
// real socket the way Postfix's milter8.c does: option negotiation, macros, one packet per SMTP
// event, and the replies libmilter sends back. Blocking I/O with deadlines, one connection per
// client, one thread per client. Constants follow /usr/include/libmilter/mfdef.h.
//
// Wire format, both directions: a 4-byte big-endian length (command byte + data), the command
// byte, then the data.

/// A command byte sent by the MTA (`SMFIC_*`). A struct rather than an enum so that tests can
/// send bytes that are not commands at all.
struct MilterCommand: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    let rawValue: UInt8
    init(rawValue: UInt8) { self.rawValue = rawValue }
    init(_ ascii: Unicode.Scalar) { self.rawValue = UInt8(ascii: ascii) }

    static let abort = Self("A")
    static let body = Self("B")
    static let connect = Self("C")
    static let macro = Self("D")
    static let endOfBody = Self("E")
    static let helo = Self("H")
    static let quitNewConnection = Self("K")
    static let header = Self("L")
    static let mail = Self("M")
    static let endOfHeaders = Self("N")
    static let optionNegotiation = Self("O")
    static let quit = Self("Q")
    static let rcpt = Self("R")
    static let data = Self("T")
    static let unknown = Self("U")

    var description: String {
        rawValue >= 0x21 && rawValue < 0x7F ? "'\(Character(Unicode.Scalar(rawValue)))'" : "0x\(String(rawValue, radix: 16))"
    }
}

/// `SMFIP_*`: which events the milter wants, and for which it will not reply.
struct MilterProtocolFlags: OptionSet, Hashable, Sendable, CustomStringConvertible {
    let rawValue: UInt32
    init(rawValue: UInt32) { self.rawValue = rawValue }

    static let noConnect = Self(rawValue: 0x0000_0001)
    static let noHelo = Self(rawValue: 0x0000_0002)
    static let noMail = Self(rawValue: 0x0000_0004)
    static let noRcpt = Self(rawValue: 0x0000_0008)
    static let noBody = Self(rawValue: 0x0000_0010)
    static let noHeaders = Self(rawValue: 0x0000_0020)
    static let noEndOfHeaders = Self(rawValue: 0x0000_0040)
    static let noReplyHeader = Self(rawValue: 0x0000_0080)
    static let noUnknown = Self(rawValue: 0x0000_0100)
    static let noData = Self(rawValue: 0x0000_0200)
    static let skip = Self(rawValue: 0x0000_0400)
    static let rejectedRecipients = Self(rawValue: 0x0000_0800)
    static let noReplyConnect = Self(rawValue: 0x0000_1000)
    static let noReplyHelo = Self(rawValue: 0x0000_2000)
    static let noReplyMail = Self(rawValue: 0x0000_4000)
    static let noReplyRcpt = Self(rawValue: 0x0000_8000)
    static let noReplyData = Self(rawValue: 0x0001_0000)
    static let noReplyUnknown = Self(rawValue: 0x0002_0000)
    static let noReplyEndOfHeaders = Self(rawValue: 0x0004_0000)
    static let noReplyBody = Self(rawValue: 0x0008_0000)
    static let headerLeadingSpace = Self(rawValue: 0x0010_0000)
    static let maxDataSize256K = Self(rawValue: 0x1000_0000)
    static let maxDataSize1M = Self(rawValue: 0x2000_0000)

    /// What Postfix 3.7 offers (MTA-NOTES §5: `protocol=0x1fffff`), i.e. `SMFI_CURR_PROT`.
    static let postfixOffer = Self(rawValue: 0x001F_FFFF)

    var description: String { "0x" + String(rawValue, radix: 16) }
}

/// The SMTP events that have a packet, with the flags that say "don't send" and "don't wait".
enum MilterEvent: String, Sendable, CaseIterable {
    case connect, helo, mail, rcpt, data, header, endOfHeaders, body, unknown

    var command: MilterCommand {
        switch self {
        case .connect: .connect
        case .helo: .helo
        case .mail: .mail
        case .rcpt: .rcpt
        case .data: .data
        case .header: .header
        case .endOfHeaders: .endOfHeaders
        case .body: .body
        case .unknown: .unknown
        }
    }

    var skipFlag: MilterProtocolFlags {
        switch self {
        case .connect: .noConnect
        case .helo: .noHelo
        case .mail: .noMail
        case .rcpt: .noRcpt
        case .data: .noData
        case .header: .noHeaders
        case .endOfHeaders: .noEndOfHeaders
        case .body: .noBody
        case .unknown: .noUnknown
        }
    }

    var noReplyFlag: MilterProtocolFlags {
        switch self {
        case .connect: .noReplyConnect
        case .helo: .noReplyHelo
        case .mail: .noReplyMail
        case .rcpt: .noReplyRcpt
        case .data: .noReplyData
        case .header: .noReplyHeader
        case .endOfHeaders: .noReplyEndOfHeaders
        case .body: .noReplyBody
        case .unknown: .noReplyUnknown
        }
    }
}

/// What the milter answered to one event (the final reply; see `MilterClient.modifications`
/// for the `h`/`i`/`m`/... actions that came before it).
enum MilterReply: Equatable, Sendable, CustomStringConvertible {
    case `continue`  // 'c'
    case accept  // 'a'
    case reject  // 'r'
    case tempfail  // 't'
    case discard  // 'd'
    case skip  // 's'
    case connectionFailure  // 'f'
    case shutdown  // '4'
    /// 'y': the full reply text as sent, e.g. "553 5.7.1 sorry..." (multi-line: "550-... \r\n550 ...").
    case replyCode(String)
    /// Nothing to wait for: the negotiated flags say the milter does not reply to this event
    /// (`SMFIP_NR_*`), or it asked not to get the event at all (`SMFIP_NO*`) and it was not sent.
    case noReply
    /// No reply within the read timeout.
    case timedOut
    /// The milter closed the connection (EOF, reset, or broken pipe on write).
    case closed
    /// A packet that is not a reply at this point.
    case unexpected(command: UInt8, data: [UInt8])

    /// A reject in any form: `r`, or `y` with a 5xx code.
    var isPermanentRejection: Bool {
        switch self {
        case .reject: true
        case .replyCode(let text): text.hasPrefix("5")
        default: false
        }
    }

    /// A temporary failure in any form: `t`, or `y` with a 4xx code.
    var isTemporaryFailure: Bool {
        switch self {
        case .tempfail: true
        case .replyCode(let text): text.hasPrefix("4")
        default: false
        }
    }

    /// `continue`, or nothing to wait for: what an MTA treats as "go on".
    var letsMailThrough: Bool { self == .continue || self == .noReply }

    var description: String {
        switch self {
        case .continue: "continue"
        case .accept: "accept"
        case .reject: "reject"
        case .tempfail: "tempfail"
        case .discard: "discard"
        case .skip: "skip"
        case .connectionFailure: "connection-failure"
        case .shutdown: "shutdown"
        case .replyCode(let text): "reply(\(String(reflecting: text)))"
        case .noReply: "no-reply"
        case .timedOut: "timed-out"
        case .closed: "closed"
        case .unexpected(let command, let data):
            "unexpected(\(MilterCommand(rawValue: command)), \(data.count) bytes)"
        }
    }
}

/// A message modification sent before the final reply (end of message only, normally).
enum MilterModification: Equatable, Sendable {
    case addHeader(name: String, value: String)  // 'h'
    case insertHeader(index: UInt32, name: String, value: String)  // 'i'
    case changeHeader(index: UInt32, name: String, value: String)  // 'm'
    case addRecipient(String)  // '+'
    case addRecipientWithParameters([String])  // '2'
    case deleteRecipient(String)  // '-'
    case replaceBody([UInt8])  // 'b'
    case changeSender([String])  // 'e'
    case quarantine(String)  // 'q'
    case other(command: UInt8, data: [UInt8])
}

/// The milter's side of option negotiation.
struct MilterNegotiation: Equatable, Sendable {
    var version: UInt32
    var actions: UInt32
    var protocolFlags: MilterProtocolFlags
    /// Macros the milter asked for, by stage index (`SMFIM_CONNECT` = 0 ... `SMFIM_EOH` = 6).
    var macroLists: [UInt32: String]

    /// Whether an MTA would send this event at all.
    func wants(_ event: MilterEvent) -> Bool { !protocolFlags.contains(event.skipFlag) }
    /// Whether an MTA would wait for a reply after sending this event.
    func replies(to event: MilterEvent) -> Bool { !protocolFlags.contains(event.noReplyFlag) }
}

enum MilterClientError: Error, CustomStringConvertible {
    case system(String, Int32)
    case socketPathTooLong(String)
    case negotiation(String)

    var description: String {
        switch self {
        case .system(let call, let code): "\(call): \(String(cString: strerror(code))) (errno \(code))"
        case .socketPathTooLong(let path): "unix socket path too long: \(path)"
        case .negotiation(let why): "option negotiation failed: \(why)"
        }
    }
}

/// One packet read from the milter, or why there is none.
enum MilterPacketRead: Equatable, Sendable {
    case packet(command: UInt8, data: [UInt8])
    case timedOut
    case closed
}

/// A blocking MTA-side milter client over a unix stream socket. Not thread-safe: one client
/// per thread. Closing is idempotent and also done by `deinit`.
final class MilterClient {
    let socketPath: String
    /// How long to wait for a reply the milter owes us.
    var readTimeout: Duration
    /// How long to wait after sending an event the milter asked not to get (`SMFIP_NO*`), when
    /// `sendsSkippedEvents` is on. libmilter answers those at once or not at all, so silence
    /// after this long counts as "no reply".
    var skippedEventTimeout: Duration = .seconds(1)
    /// Off (the default): behave as an MTA and do not send events the milter asked to skip,
    /// answering `.noReply` instead. On: send them anyway (robustness tests).
    var sendsSkippedEvents = false

    private(set) var negotiation: MilterNegotiation?
    /// Modifications received with the last reply (cleared by every exchange).
    private(set) var modifications: [MilterModification] = []
    /// Progress ('p') packets received with the last reply.
    private(set) var progressCount = 0
    /// The milter closed the connection (seen on a read or a write).
    private(set) var peerClosed = false
    /// A read timed out inside a packet; the stream is no longer in step.
    private(set) var desynchronised = false

    private var fd: Int32

    /// Connects to `socketPath` (a file path, without the `unix:` prefix).
    init(socketPath: String, readTimeout: Duration = .seconds(15)) throws {
        self.socketPath = socketPath
        self.readTimeout = readTimeout
        fd = try MilterClient.connectUnixSocket(socketPath)
        // SO_RCVTIMEO/SO_SNDTIMEO as a last resort; reads also poll with their own deadline.
        setSocketTimeout(SO_RCVTIMEO, readTimeout)
        setSocketTimeout(SO_SNDTIMEO, .seconds(30))
    }

    deinit { close() }

    var isOpen: Bool { fd >= 0 }

    func close() {
        if fd >= 0 {
            _ = Glibc.close(fd)
            fd = -1
        }
    }

    /// Half-closes our side: the milter reads EOF but can still answer.
    func shutdownWrite() {
        if fd >= 0 { _ = Glibc.shutdown(fd, Int32(SHUT_WR)) }
    }

    // MARK: Negotiation and the SMTP events

    /// Sends 'O' and reads the milter's 'O'. Defaults are what Postfix 3.7 offers.
    @discardableResult
    func negotiate(
        version: UInt32 = 6, actions: UInt32 = 0x1FF, protocolFlags: MilterProtocolFlags = .postfixOffer
    ) throws -> MilterNegotiation {
        var data: [UInt8] = []
        data += bigEndianBytes(version)
        data += bigEndianBytes(actions)
        data += bigEndianBytes(protocolFlags.rawValue)
        guard sendPacket(.optionNegotiation, data) else { throw MilterClientError.negotiation("connection closed") }
        switch readPacket(timeout: readTimeout) {
        case .timedOut: throw MilterClientError.negotiation("no answer within \(readTimeout)")
        case .closed: throw MilterClientError.negotiation("connection closed by the milter")
        case .packet(let command, let reply):
            guard command == MilterCommand.optionNegotiation.rawValue, reply.count >= 12 else {
                throw MilterClientError.negotiation(
                    "expected 'O' with 12+ bytes, got \(MilterCommand(rawValue: command)) with \(reply.count)")
            }
            var lists: [UInt32: String] = [:]
            var index = 12
            while index + 4 <= reply.count {
                let stage = readBigEndian(reply, at: index)
                index += 4
                let end = reply[index...].firstIndex(of: 0) ?? reply.count
                lists[stage] = String(decoding: reply[index..<end], as: UTF8.self)
                index = end + 1
            }
            let result = MilterNegotiation(
                version: readBigEndian(reply, at: 0), actions: readBigEndian(reply, at: 4),
                protocolFlags: MilterProtocolFlags(rawValue: readBigEndian(reply, at: 8)), macroLists: lists)
            negotiation = result
            return result
        }
    }

    /// 'D': macros for the command that follows. Never answered.
    @discardableResult
    func macros(for command: MilterCommand, _ pairs: [(String, String)]) -> Bool {
        var data: [UInt8] = [command.rawValue]
        for (name, value) in pairs {
            data += Array(name.utf8) + [0] + Array(value.utf8) + [0]
        }
        return sendPacket(.macro, data)
    }

    /// 'C': hostname, family ('4', '6', 'L', 'U'), port, address. The family defaults from the
    /// address ('6' if it contains a colon).
    func connect(
        hostname: String = "client.example.test", address: String, family: Character? = nil, port: UInt16 = 25
    ) -> MilterReply {
        let family = family ?? (address.contains(":") ? "6" : "4")
        var data = Array(hostname.utf8) + [0]
        data.append(family.asciiValue ?? UInt8(ascii: "U"))
        if family != "U" {
            data += [UInt8(port >> 8), UInt8(port & 0xFF)]
            data += Array(address.utf8) + [0]
        }
        return exchange(.connect, data: data)
    }

    /// 'H': the HELO/EHLO argument.
    func helo(_ name: String) -> MilterReply { helo(bytes: Array(name.utf8)) }
    func helo(bytes: [UInt8]) -> MilterReply { exchange(.helo, data: bytes + [0]) }

    /// 'M': `<address>` (brackets added) and ESMTP parameters, each NUL-terminated.
    func mail(from address: String, parameters: [String] = []) -> MilterReply {
        mail(fromBytes: Array(address.utf8), parameters: parameters)
    }
    func mail(fromBytes address: [UInt8], parameters: [String] = []) -> MilterReply {
        exchange(.mail, data: argumentList(address, parameters))
    }

    /// 'R': `<address>` (brackets added) and ESMTP parameters.
    func rcpt(to address: String, parameters: [String] = []) -> MilterReply {
        rcpt(toBytes: Array(address.utf8), parameters: parameters)
    }
    func rcpt(toBytes address: [UInt8], parameters: [String] = []) -> MilterReply {
        exchange(.rcpt, data: argumentList(address, parameters))
    }

    /// 'T': the DATA command.
    func data() -> MilterReply { exchange(.data, data: []) }

    /// 'L': one header field, name and value NUL-terminated.
    func header(_ name: String, _ value: String) -> MilterReply {
        header(name: Array(name.utf8), value: Array(value.utf8))
    }
    func header(name: [UInt8], value: [UInt8]) -> MilterReply {
        exchange(.header, data: name + [0] + value + [0])
    }

    /// 'N': end of headers.
    func endOfHeaders() -> MilterReply { exchange(.endOfHeaders, data: []) }

    /// 'B': the body, cut at the given offsets (each chunk also capped at 65535 bytes, libmilter's
    /// `MILTER_CHUNK_SIZE`). Stops at the first answer that is not continue/no-reply, as an MTA
    /// does, and returns it; otherwise returns the last chunk's answer (`.noReply` for no chunks).
    func body(_ bytes: [UInt8], splitAt offsets: [Int] = []) -> MilterReply {
        body(chunks: MilterClient.chunks(of: bytes, splitAt: offsets))
    }

    func body(chunks: [[UInt8]]) -> MilterReply {
        var last = MilterReply.noReply
        for chunk in chunks {
            last = exchange(.body, data: chunk)
            if !last.letsMailThrough { return last }
        }
        return last
    }

    /// 'E': end of message (optionally carrying a last body chunk). Always answered; the
    /// modifications before the final reply end up in `modifications`.
    func endOfMessage(finalChunk: [UInt8] = []) -> MilterReply {
        exchange(nil, command: .endOfBody, data: finalChunk)
    }

    /// 'A': the MTA aborts the transaction. Never answered.
    @discardableResult
    func abort() -> Bool { sendPacket(.abort, []) }

    /// 'U': an SMTP command the MTA did not recognise.
    func unknown(_ line: String) -> MilterReply { exchange(.unknown, data: Array(line.utf8) + [0]) }

    /// 'Q': end of session. Never answered; the milter closes its side.
    @discardableResult
    func quit() -> Bool { sendPacket(.quit, []) }

    /// 'K': end of session, a new one follows on this connection (no new negotiation).
    @discardableResult
    func quitNewConnection() -> Bool { sendPacket(.quitNewConnection, []) }

    // MARK: Exchanges

    /// Sends one event and reads its answer, honouring the negotiated flags: an event the milter
    /// asked to skip is not sent (`.noReply`) unless `sendsSkippedEvents`; after an event with
    /// "no reply" negotiated, nothing is read (`.noReply`).
    func exchange(_ event: MilterEvent, data: [UInt8]) -> MilterReply {
        exchange(event, command: event.command, data: data)
    }

    /// Sends any command and reads an answer. `event` (nil for 'E' or anything unknown) selects
    /// the negotiated flags that apply; `timeout` overrides the read timeout.
    func exchange(
        _ event: MilterEvent?, command: MilterCommand, data: [UInt8], timeout: Duration? = nil
    ) -> MilterReply {
        let flags = negotiation?.protocolFlags ?? []
        var skipped = false
        if let event, flags.contains(event.skipFlag) {
            if !sendsSkippedEvents { return .noReply }
            skipped = true
        }
        modifications = []
        progressCount = 0
        guard sendPacket(command, data) else { return .closed }
        if let event, flags.contains(event.noReplyFlag) { return .noReply }
        let reply = readReply(timeout: timeout ?? (skipped ? skippedEventTimeout : readTimeout))
        if skipped && reply == .timedOut { return .noReply }
        return reply
    }

    /// Reads packets until a final reply: 'p' progress restarts the timeout, modifications are
    /// collected.
    func readReply(timeout: Duration? = nil) -> MilterReply {
        let timeout = timeout ?? readTimeout
        while true {
            switch readPacket(timeout: timeout) {
            case .timedOut: return .timedOut
            case .closed: return .closed
            case .packet(let command, let data):
                switch Unicode.Scalar(command) {
                case "c": return .continue
                case "a": return .accept
                case "r": return .reject
                case "t": return .tempfail
                case "d": return .discard
                case "s": return .skip
                case "f": return .connectionFailure
                case "4": return .shutdown
                case "y": return .replyCode(cString(data, from: 0))
                case "p": progressCount += 1
                case "h": modifications.append(.addHeader(name: cString(data, from: 0), value: secondString(data, from: 0)))
                case "i", "m":
                    guard data.count >= 4 else { return .unexpected(command: command, data: data) }
                    let index = readBigEndian(data, at: 0)
                    let name = cString(data, from: 4)
                    let value = secondString(data, from: 4)
                    modifications.append(
                        command == UInt8(ascii: "i")
                            ? .insertHeader(index: index, name: name, value: value)
                            : .changeHeader(index: index, name: name, value: value))
                case "+": modifications.append(.addRecipient(cString(data, from: 0)))
                case "2": modifications.append(.addRecipientWithParameters(strings(data)))
                case "-": modifications.append(.deleteRecipient(cString(data, from: 0)))
                case "b": modifications.append(.replaceBody(data))
                case "e": modifications.append(.changeSender(strings(data)))
                case "q": modifications.append(.quarantine(cString(data, from: 0)))
                case "l", "O": return .unexpected(command: command, data: data)
                default:
                    if (0x21..<0x7F).contains(command) {
                        modifications.append(.other(command: command, data: data))
                    } else {
                        return .unexpected(command: command, data: data)
                    }
                }
            }
        }
    }

    // MARK: Raw packets

    /// Sends one well-formed packet (length, command, data). False if the milter has gone.
    @discardableResult
    func sendPacket(_ command: MilterCommand, _ data: [UInt8]) -> Bool {
        sendRaw(bigEndianBytes(UInt32(data.count + 1)) + [command.rawValue] + data)
    }

    /// Sends bytes as they are: for malformed packets (wrong lengths, truncation, junk).
    @discardableResult
    func sendRaw(_ bytes: [UInt8]) -> Bool {
        guard fd >= 0 else { return false }
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { buffer in
                Glibc.send(fd, buffer.baseAddress! + sent, buffer.count - sent, Int32(MSG_NOSIGNAL))
            }
            if n > 0 {
                sent += n
            } else if n < 0 && errno == EINTR {
                continue
            } else {
                if n < 0 && (errno == EPIPE || errno == ECONNRESET) { peerClosed = true }
                return false
            }
        }
        return true
    }

    /// Reads one packet within `timeout`.
    func readPacket(timeout: Duration? = nil) -> MilterPacketRead {
        let deadline = ContinuousClock.now + (timeout ?? readTimeout)
        var header = [UInt8](repeating: 0, count: 4)
        switch readExactly(&header, deadline: deadline) {
        case .timedOut: return .timedOut
        case .closed: return .closed
        case .complete: break
        }
        let length = Int(readBigEndian(header, at: 0))
        guard length >= 1, length <= 16 * 1024 * 1024 else {
            desynchronised = true
            return .packet(command: 0, data: header)
        }
        var payload = [UInt8](repeating: 0, count: length)
        switch readExactly(&payload, deadline: deadline) {
        case .timedOut:
            desynchronised = true
            return .timedOut
        case .closed: return .closed
        case .complete: return .packet(command: payload[0], data: Array(payload[1...]))
        }
    }

    /// Whether the milter has closed its side: waits up to `timeout` for EOF, discarding data.
    func waitForClose(timeout: Duration = .seconds(5)) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while true {
            switch readPacket(timeout: deadline - ContinuousClock.now) {
            case .closed: return true
            case .timedOut: return false
            case .packet: continue
            }
        }
    }

    // MARK: Helpers

    /// Cuts `bytes` at the given offsets, then caps every piece at 65535 bytes. Empty pieces
    /// (repeated or out-of-range offsets) are dropped.
    static func chunks(of bytes: [UInt8], splitAt offsets: [Int], maxChunk: Int = 65535) -> [[UInt8]] {
        let cuts = Set(offsets.filter { $0 > 0 && $0 < bytes.count }).sorted()
        var pieces: [[UInt8]] = []
        var start = 0
        for end in cuts + [bytes.count] {
            var index = start
            while index < end {
                let stop = min(end, index + maxChunk)
                pieces.append(Array(bytes[index..<stop]))
                index = stop
            }
            start = end
        }
        return pieces
    }

    private enum ReadOutcome { case complete, timedOut, closed }

    private func readExactly(_ buffer: inout [UInt8], deadline: ContinuousClock.Instant) -> ReadOutcome {
        guard fd >= 0 else { return .closed }
        var got = 0
        while got < buffer.count {
            let remaining = deadline - ContinuousClock.now
            if remaining <= .zero { return .timedOut }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let (seconds, attoseconds) = remaining.components
            let millis = Int32(clamping: seconds * 1000 + attoseconds / 1_000_000_000_000_000 + 1)
            let ready = poll(&pfd, 1, millis)
            if ready < 0 {
                if errno == EINTR { continue }
                return .closed
            }
            if ready == 0 { continue }  // re-check the deadline
            let n = buffer.withUnsafeMutableBytes { raw in
                Glibc.read(fd, raw.baseAddress! + got, raw.count - got)
            }
            if n > 0 {
                got += n
            } else if n == 0 {
                peerClosed = true
                return .closed
            } else if errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK {
                continue
            } else {
                peerClosed = true
                return .closed
            }
        }
        return .complete
    }

    private func setSocketTimeout(_ option: Int32, _ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        var tv = timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
        _ = setsockopt(fd, SOL_SOCKET, option, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    private static func connectUnixSocket(_ path: String) throws -> Int32 {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let pathBytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard pathBytes.count < capacity else { throw MilterClientError.socketPathTooLong(path) }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: pathBytes)
            raw[pathBytes.count] = 0
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw MilterClientError.system("socket", errno) }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        if result != 0 {
            let code = errno
            _ = Glibc.close(fd)
            throw MilterClientError.system("connect(\(path))", code)
        }
        return fd
    }
}

// MARK: Byte helpers

func bigEndianBytes(_ value: UInt32) -> [UInt8] {
    [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)]
}

func readBigEndian(_ bytes: [UInt8], at index: Int) -> UInt32 {
    guard index + 4 <= bytes.count else { return 0 }
    return UInt32(bytes[index]) << 24 | UInt32(bytes[index + 1]) << 16 | UInt32(bytes[index + 2]) << 8
        | UInt32(bytes[index + 3])
}

/// `<address>\0` followed by each parameter and its NUL, as Postfix sends MAIL and RCPT.
private func argumentList(_ address: [UInt8], _ parameters: [String]) -> [UInt8] {
    var data = [UInt8(ascii: "<")] + address + [UInt8(ascii: ">"), 0]
    for parameter in parameters { data += Array(parameter.utf8) + [0] }
    return data
}

/// The NUL-terminated string at `start` (to the end if there is no NUL), decoded leniently.
private func cString(_ bytes: [UInt8], from start: Int) -> String {
    guard start < bytes.count else { return "" }
    let end = bytes[start...].firstIndex(of: 0) ?? bytes.count
    return String(decoding: bytes[start..<end], as: UTF8.self)
}

/// The string after the first NUL-terminated string at `start`.
private func secondString(_ bytes: [UInt8], from start: Int) -> String {
    guard start < bytes.count, let nul = bytes[start...].firstIndex(of: 0) else { return "" }
    return cString(bytes, from: nul + 1)
}

/// All NUL-terminated strings in `bytes`.
private func strings(_ bytes: [UInt8]) -> [String] {
    bytes.split(separator: 0, omittingEmptySubsequences: false).dropLast(bytes.last == 0 ? 1 : 0)
        .map { String(decoding: $0, as: UTF8.self) }
}
