import PolicyCore
import StorePostgres
import Testing

/// URL parsing and redaction: no server needed, so never skipped.
struct PostgresURLTests {
    @Test(arguments: [
        ("postgres://greylist:s3cret@db.example:5432/mail", "postgres://greylist:***@db.example:5432/mail"),
        ("postgresql://greylist:s3cret@db.example/mail?sslmode=require", "postgresql://greylist:***@db.example/mail?sslmode=require"),
        ("postgres://greylist@db.example/mail", "postgres://greylist@db.example/mail"),
        ("postgres://db.example/mail", "postgres://db.example/mail"),
        // An unencoded '@' or '/' in the password: still all hidden (the last '@' ends it).
        ("postgres://u:p@ss/w@rd@h:1/d", "postgres://u:***@h:1/d"),
        ("postgres://u:%40%2F@h/d", "postgres://u:***@h/d"),
        ("postgres://u:@h/d", "postgres://u:***@h/d"),
        ("postgres://u@h/d?password=hunter2&sslmode=disable", "postgres://u@h/d?password=***&sslmode=disable"),
        ("host=h password=hunter2 user=u", "host=h password=*** user=u"),
        ("not a url at all", "not a url at all"),
        ("u:s3cret@h/d", "u:***@h/d"),
        ("", ""),
    ])
    func redaction(_ url: String, _ expected: String) {
        #expect(RedactedURL(url).description == expected)
        #expect(String(reflecting: RedactedURL(url)) == expected)
    }

    @Test func parsesTheParts() throws {
        let url = try PostgresURL("postgres://grey%20list:p%40ss%2Fw%3Ard%21@db.example:6432/mail%2Dstate?sslmode=verify-full&sslrootcert=/etc/ca.pem&connect_timeout=3")
        #expect(url.endpoint == .tcp(host: "db.example", port: 6432))
        #expect(url.username == "grey list")
        #expect(url.password == "p@ss/w:rd!")
        #expect(url.database == "mail-state")
        #expect(url.tls == .verifyFull)
        #expect(url.rootCertificateFile == "/etc/ca.pem")
        #expect(url.connectTimeout == .seconds(3))
        #expect(url.description == "postgres://grey%20list:***@db.example:6432/mail%2Dstate?sslmode=verify-full&sslrootcert=/etc/ca.pem&connect_timeout=3")
    }

    @Test func defaults() throws {
        let url = try PostgresURL("postgres://greylist@127.0.0.1")
        #expect(url.endpoint == .tcp(host: "127.0.0.1", port: 5432))
        #expect(url.database == "greylist")
        #expect(url.password == nil)
        #expect(url.tls == .prefer)
        #expect(url.connectTimeout == nil)
    }

    @Test func ipv6AndUnixSockets() throws {
        #expect(try PostgresURL("postgres://u:p@[2001:db8::1]:5433/d").endpoint == .tcp(host: "2001:db8::1", port: 5433))
        #expect(try PostgresURL("postgres://u:p@[::1]/d").endpoint == .tcp(host: "::1", port: 5432))
        #expect(
            try PostgresURL("postgres://u@/d?host=/var/run/postgresql").endpoint
                == .unixSocket(path: "/var/run/postgresql/.s.PGSQL.5432"))
        #expect(
            try PostgresURL("postgres://u@:5433/d?host=/run/pg/").endpoint == .unixSocket(path: "/run/pg/.s.PGSQL.5433"))
    }

    @Test(arguments: [
        "mysql://u:Secret-9@h/d",
        "u:Secret-9@h/d",
        "postgres://u:Secret-9@h:0/d",
        "postgres://u:Secret-9@h:70000/d",
        "postgres://u:Secret-9@h:port/d",
        "postgres://u:Secret-9@h/d?sslmode=sometimes",
        "postgres://u:Secret-9@h/d?sslmode",
        "postgres://u:Secret-9@h/d?application_name=x",
        "postgres://u:Secret-9@h/d?connect_timeout=0",
        "postgres://u:Secret-9@/d",
        "postgres://u:Secret-9@h/d?host=/tmp",
        "postgres://:Secret-9@h/d",
        "postgres://u:Secret-9%zz@h/d",
        "postgres://u:Secret-9@[::1/d",
        "postgres://u:Secret-9@h/d#frag",
        "postgres://u:Secret-9@h/a%2Fb",
    ])
    func rejectsWithoutShowingThePassword(_ url: String) {
        do {
            let parsed = try PostgresURL(url)
            Issue.record("accepted \(parsed)")
        } catch {
            guard case .unavailable(let why) = error else { Issue.record("expected .unavailable, got \(error)"); return }
            #expect(why.contains("invalid PostgreSQL URL"))
            #expect(!error.description.contains("Secret-9"), "\(error)")
        }
    }

    @Test func neitherDescriptionNorDumpShowsThePassword() throws {
        let url = try PostgresURL("postgres://u:Dump-Secret@h/d")
        var dumped = ""
        dump(url, to: &dumped)
        for text in [url.description, String(reflecting: url), "\(url)", dumped] {
            #expect(!text.contains("Dump-Secret"), "\(text)")
        }
    }
}
