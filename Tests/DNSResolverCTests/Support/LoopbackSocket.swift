import Glibc

enum SocketError: Error, CustomStringConvertible {
    case system(String, Int32)

    var description: String {
        switch self {
        case .system(let call, let code): "\(call): \(String(cString: strerror(code)))"
        }
    }
}

/// A socket bound to 127.0.0.1. Port 0 picks a free one.
final class LoopbackSocket: @unchecked Sendable {
    // @unchecked: the descriptor is immutable; `close` is called once, by the owner.
    let fd: Int32
    let port: UInt16

    init(type: Int32, port: UInt16 = 0) throws {
        let descriptor = socket(AF_INET, type, 0)
        guard descriptor >= 0 else { throw SocketError.system("socket", errno) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0 else {
            let code = errno
            Glibc.close(descriptor)
            throw SocketError.system("bind 127.0.0.1:\(port)", code)
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        fd = descriptor
        self.port = UInt16(bigEndian: address.sin_port)
    }

    func close() { Glibc.close(fd) }

    /// A port that is free for both UDP and TCP on 127.0.0.1 right now (for a server to bind).
    static func freePort() throws -> UInt16 {
        for _ in 0..<20 {
            let udp = try LoopbackSocket(type: Int32(SOCK_DGRAM.rawValue))
            defer { udp.close() }
            if let tcp = try? LoopbackSocket(type: Int32(SOCK_STREAM.rawValue), port: udp.port) {
                tcp.close()
                return udp.port
            }
        }
        throw SocketError.system("no free port", EADDRINUSE)
    }

    func send(_ bytes: [UInt8], toPort: UInt16) {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = toPort.bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        _ = bytes.withUnsafeBytes { buffer in
            withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, buffer.baseAddress, buffer.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
    }

    /// Waits up to `milliseconds` for a datagram.
    func receive(milliseconds: Int32) -> (bytes: [UInt8], from: sockaddr_in)? {
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&descriptor, 1, milliseconds) > 0 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 4096)
        var from = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let count = buffer.withUnsafeMutableBytes { bytes in
            withUnsafeMutablePointer(to: &from) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    recvfrom(fd, bytes.baseAddress, bytes.count, 0, $0, &length)
                }
            }
        }
        guard count > 0 else { return nil }
        return (Array(buffer[..<count]), from)
    }

    func send(_ bytes: [UInt8], to address: sockaddr_in) {
        var address = address
        _ = bytes.withUnsafeBytes { buffer in
            withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, buffer.baseAddress, buffer.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
    }
}
