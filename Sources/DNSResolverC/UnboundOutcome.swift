internal import CResolver
import PolicyCore

/// What libunbound reported for one query, copied out of `ub_result` so that the mapping to
/// `DNSAnswer`/`DNSError` is a pure function the tests can feed directly.
struct UnboundOutcome: Equatable {
    /// The `err` argument of the callback: 0, or a `ub_ctx_err` (no result then).
    var error: Int32 = 0
    var rcode: Int32 = 0
    var haveData = false
    var nxdomain = false
    var bogus = false
    /// One rdata per record of the final type (after unbound followed any CNAME chain).
    var rdata: [[UInt8]] = []

    init(error: Int32 = 0, rcode: Int32 = 0, haveData: Bool = false, nxdomain: Bool = false, bogus: Bool = false,
        rdata: [[UInt8]] = [])
    {
        self.error = error
        self.rcode = rcode
        self.haveData = haveData
        self.nxdomain = nxdomain
        self.bogus = bogus
        self.rdata = rdata
    }

    /// Copies a callback's arguments. `result` stays owned by the caller.
    init(error: Int32, result: UnsafeMutablePointer<ub_result>?) {
        self.error = error
        guard error == 0, let r = result?.pointee else {
            if error == 0 { self.error = UB_NOMEM.rawValue }  // "result may be NULL, in that case err is set"
            return
        }
        rcode = r.rcode
        haveData = r.havedata != 0
        nxdomain = r.nxdomain != 0
        bogus = r.bogus != 0
        // `data` itself is NULL on SERVFAIL (measured), not only `data[0]`.
        if let data = r.data, let lengths = r.len {
            var index = 0
            while let item = data[index] {
                let length = Int(lengths[index])
                rdata.append(length > 0 ? Array(UnsafeRawBufferPointer(start: item, count: length)) : [])
                index += 1
            }
        }
    }

    /// The answer or error for `name`/`type`.
    ///
    /// RCODEs (RFC 1035 §4.1.1, RFC 2136 §2.2): NOERROR with records is an answer, NOERROR
    /// without is NODATA (RFC 2308 §2.2), NXDOMAIN is an answer too; SERVFAIL is transient;
    /// REFUSED, FORMERR and NOTIMP will not change on retry (Postfix DNS_FAIL). Unbound turns an
    /// upstream REFUSED into SERVFAIL (measured with NSD), and a timeout into SERVFAIL too, so a
    /// `.timeout` only ever comes from the Swift deadline.
    func answer(name: DNSName, type: DNSRecordType) -> Result<DNSAnswer, DNSError> {
        let query = name.text
        if error != 0 {
            if error == UB_SERVFAIL.rawValue { return .failure(.serverFailure(name: query, type: type)) }
            return .failure(.unavailable("libunbound: \(String(cString: ub_strerror(error))) for \(query)/\(type)"))
        }
        if bogus { return .failure(.serverFailure(name: query, type: type)) }
        switch rcode {
        case 0:
            guard haveData, !rdata.isEmpty else { return .success(.noData) }
            var records: [DNSRecord] = []
            records.reserveCapacity(rdata.count)
            for item in rdata {
                guard let record = RecordData.decode(type, item[...]) else {
                    return .failure(.malformedAnswer(name: query, type: type))
                }
                records.append(record)
            }
            return .success(.records(records))
        case 3:
            return .success(.noSuchName)
        case 1, 4, 5:
            return .failure(.refused(name: query, type: type))
        default:
            return .failure(.serverFailure(name: query, type: type))
        }
    }
}

extension DNSRecordType {
    /// The RR TYPE value (RFC 1035 §3.2.2, RFC 3596 §2.1).
    var rrtype: Int32 {
        switch self {
        case .a: return 1
        case .aaaa: return 28
        case .txt: return 16
        case .mx: return 15
        case .ptr: return 12
        }
    }
}
