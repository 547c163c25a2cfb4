import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The `Date` field value (RFC 9110 §5.6.7 IMF-fixdate), computed at most once a second.
package enum HTTPDate {
    private static let cache = NIOLockedValueBox<(second: Int, value: String)>((-1, ""))

    /// Now, as `Sun, 06 Nov 1994 08:49:37 GMT`.
    static func now() -> String {
        let second = time(nil)
        return cache.withLockedValue { cached in
            if cached.second != second {
                cached = (second, format(second))
            }
            return cached.value
        }
    }

    private static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// Parses an HTTP-date: IMF-fixdate, or the obsolete RFC 850 and asctime forms recipients must accept
    /// (RFC 9110 §5.6.7).
    ///
    /// - Parameter text: the field value.
    /// - Returns: seconds since the epoch, or nil when it is not a valid HTTP-date.
    package static func parse(_ text: some StringProtocol) -> Int? {
        let parts = Substring(text).split(separator: " ", omittingEmptySubsequences: true)
        var day: Int?, month: Int?, year: Int?, clock: Substring?
        if parts.count == 6, parts[0].hasSuffix(","), parts[5] == "GMT" {
            // IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
            day = Int(parts[1]); month = monthIndex(parts[2]); year = Int(parts[3]); clock = parts[4]
        } else if parts.count == 4, parts[0].hasSuffix(","), parts[3] == "GMT" {
            // RFC 850: Sunday, 06-Nov-94 08:49:37 GMT
            let dmy = parts[1].split(separator: "-")
            guard dmy.count == 3, let yy = Int(dmy[2]), dmy[2].count == 2 else { return nil }
            day = Int(dmy[0]); month = monthIndex(dmy[1]); clock = parts[2]
            year = yy < 70 ? 2000 + yy : 1900 + yy
        } else if parts.count == 5 {
            // asctime: Sun Nov  6 08:49:37 1994
            month = monthIndex(parts[1]); day = Int(parts[2]); clock = parts[3]; year = Int(parts[4])
        }
        // The year is bounded before it meets Int32: a client's "year 207777099999999990" must be an invalid
        // date, not a trap (found by the fuzz-headers target).
        guard let day, let month, let year, let clock, (1...31).contains(day), (1970...9999).contains(year) else { return nil }
        let hms = clock.split(separator: ":")
        guard hms.count == 3, let h = Int(hms[0]), let m = Int(hms[1]), let s = Int(hms[2]),
            (0...23).contains(h), (0...59).contains(m), (0...60).contains(s)
        else { return nil }
        var t = tm()
        t.tm_year = Int32(year - 1900)
        t.tm_mon = Int32(month)
        t.tm_mday = Int32(day)
        t.tm_hour = Int32(h)
        t.tm_min = Int32(m)
        t.tm_sec = Int32(s)
        return Int(timegm(&t))
    }

    private static func monthIndex(_ name: some StringProtocol) -> Int? {
        months.firstIndex { $0 == name }
    }

    /// Formats seconds since the epoch.
    package static func format(_ epochSeconds: Int) -> String {
        let tm = utc(epochSeconds)
        return "\(days[Int(tm.tm_wday)]), \(two(tm.tm_mday)) \(months[Int(tm.tm_mon)]) \(tm.tm_year + 1900) "
            + "\(two(tm.tm_hour)):\(two(tm.tm_min)):\(two(tm.tm_sec)) GMT"
    }

    /// Formats seconds since the epoch as the Common Log Format's time, `10/Oct/2000:13:55:36 +0000`.
    package static func commonLogFormat(_ epochSeconds: Int) -> String {
        let tm = utc(epochSeconds)
        return "\(two(tm.tm_mday))/\(months[Int(tm.tm_mon)])/\(tm.tm_year + 1900):"
            + "\(two(tm.tm_hour)):\(two(tm.tm_min)):\(two(tm.tm_sec)) +0000"
    }

    /// Formats seconds since the epoch as ISO 8601 in UTC, to the second: `2026-12-01T13:05:00Z`.
    package static func iso8601(_ epochSeconds: Int) -> String {
        let tm = utc(epochSeconds)
        return "\(tm.tm_year + 1900)-\(two(tm.tm_mon + 1))-\(two(tm.tm_mday))T"
            + "\(two(tm.tm_hour)):\(two(tm.tm_min)):\(two(tm.tm_sec))Z"
    }

    /// Formats seconds since the epoch as a short UTC date and time for people, to the minute:
    /// `2026-12-01 13:05`.
    package static func short(_ epochSeconds: Int) -> (date: String, time: String) {
        let tm = utc(epochSeconds)
        return ("\(tm.tm_year + 1900)-\(two(tm.tm_mon + 1))-\(two(tm.tm_mday))", "\(two(tm.tm_hour)):\(two(tm.tm_min))")
    }

    private static func utc(_ epochSeconds: Int) -> tm {
        var t = time_t(epochSeconds)
        var tm = tm()
        gmtime_r(&t, &tm)
        return tm
    }

    private static func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
}
