/// Just enough of the DNS wire format (RFC 1035 §4) for the test servers: build a query, read
/// the question of one, and build a reply to it.
enum DNSWire {
    static func name(_ text: String) -> [UInt8] {
        var bytes: [UInt8] = []
        for label in text.split(separator: ".") {
            bytes.append(UInt8(label.utf8.count))
            bytes.append(contentsOf: label.utf8)
        }
        bytes.append(0)
        return bytes
    }

    static func query(id: UInt16, name: String, type: UInt16) -> [UInt8] {
        var packet: [UInt8] = [UInt8(id >> 8), UInt8(id & 0xFF), 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]
        packet += self.name(name)
        packet += [UInt8(type >> 8), UInt8(type & 0xFF), 0, 1]
        return packet
    }

    struct Question {
        let id: UInt16
        /// The question section, name, type and class, as received.
        let section: ArraySlice<UInt8>
        let name: String
        let type: UInt16
    }

    static func question(of packet: [UInt8]) -> Question? {
        guard packet.count >= 12, packet[4] == 0, packet[5] == 1 else { return nil }
        var index = 12
        var labels: [String] = []
        while index < packet.count {
            let length = Int(packet[index])
            index += 1
            if length == 0 { break }
            guard length <= 63, index + length <= packet.count else { return nil }
            labels.append(String(decoding: packet[index..<index + length], as: UTF8.self))
            index += length
        }
        guard index + 4 <= packet.count else { return nil }
        let type = UInt16(packet[index]) << 8 | UInt16(packet[index + 1])
        return Question(
            id: UInt16(packet[0]) << 8 | UInt16(packet[1]), section: packet[12..<index + 4],
            name: labels.joined(separator: ".").lowercased(), type: type)
    }

    /// A reply to `question` with `rcode` and, for an A question, one A record per address.
    static func reply(to question: Question, rcode: UInt8, addresses: [[UInt8]] = []) -> [UInt8] {
        let answers = question.type == 1 ? addresses : []
        var packet: [UInt8] = [
            UInt8(question.id >> 8), UInt8(question.id & 0xFF),
            0x85,  // QR, AA, RD
            0x80 | (rcode & 0x0F),  // RA, RCODE
            0, 1, 0, UInt8(answers.count), 0, 0, 0, 0,
        ]
        packet += question.section
        for address in answers {
            // Name: a pointer to the question name at offset 12; A, IN, TTL 60, 4 bytes.
            packet += [0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4] + address
        }
        return packet
    }
}
