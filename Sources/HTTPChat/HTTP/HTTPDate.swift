import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The `Date` field value (RFC 9110 §5.6.7 IMF-fixdate), computed at most once a second.
enum HTTPDate {
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

    /// Formats seconds since the epoch.
    static func format(_ epochSeconds: Int) -> String {
        var t = time_t(epochSeconds)
        var tm = tm()
        gmtime_r(&t, &tm)
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(days[Int(tm.tm_wday)]), \(two(tm.tm_mday)) \(months[Int(tm.tm_mon)]) \(tm.tm_year + 1900) "
            + "\(two(tm.tm_hour)):\(two(tm.tm_min)):\(two(tm.tm_sec)) GMT"
    }
}
