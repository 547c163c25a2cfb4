import Foundation
import TestSupport
import Testing

/// Debian's headless Chromium, when installed (`.ci/run` installs it).
private let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }

/// A page served beside the listing (same origin) that loads it in frames 390 and 1200 px wide and writes
/// what it measured into `<pre id="result">`, for `chromium --dump-dom` to hand back:
/// - `wrapped`, `oneLine`: sizes and dates shown on more than one line, and on one (height over line
///   height; those not shown, such as a folder's size at 390 px, are neither);
/// - `overflow`: whether the page scrolls sideways;
/// - `longLines`: the lines the longest name takes (more than one: it wraps inside its column);
/// - `resources`: what the listing fetched after its own document (none: icons and styles are inline);
/// - `dark`: whether the page's background is dark;
/// - `typed`: the rows still shown after typing `FILE-1` in the filter box (the inline script).
private let probe = """
    <!doctype html><meta charset="utf-8"><body><script>
    var widths = [390, 1200], out = {}, done = 0;
    widths.forEach(function (w) {
      var f = document.createElement('iframe');
      f.width = w; f.height = 844; f.src = '/gallery/';
      f.onload = function () {
        var d = f.contentDocument, wrapped = 0, oneLine = 0, longLines = 0;
        function lines(e) { return Math.round(e.getBoundingClientRect().height / parseFloat(getComputedStyle(e).lineHeight)); }
        d.querySelectorAll('td.size > span, td.time > time').forEach(function (e) { var n = lines(e); if (n > 1) wrapped++; if (n === 1) oneLine++; });
        d.querySelectorAll('td.name a > span').forEach(function (e) { longLines = Math.max(longLines, lines(e)); });
        var bg = getComputedStyle(d.body).backgroundColor.match(/\\d+/g).map(Number);
        out[w] = { rows: d.querySelectorAll('tr[data-name]').length, wrapped: wrapped, oneLine: oneLine,
          overflow: d.documentElement.scrollWidth > d.documentElement.clientWidth, longLines: longLines,
          resources: f.contentWindow.performance.getEntriesByType('resource').length, dark: bg[0] + bg[1] + bg[2] < 200 };
        var box = d.querySelector('.filter input');
        box.value = 'FILE-1'; box.dispatchEvent(new Event('input'));
        out[w].typed = Array.prototype.filter.call(d.querySelectorAll('tr[data-name]'), function (r) { return r.offsetHeight > 0; }).length;
        if (++done === widths.length) {
          var p = document.createElement('pre'); p.id = 'result'; p.textContent = JSON.stringify(out); document.body.appendChild(p);
        }
      };
      document.body.appendChild(f);
    });
    </script>
    """

/// A folder like the README's screenshots: long names with and without spaces, numbered names, nested
/// folders, sizes from bytes to GiB (sparse files).
private final class Gallery {
    let path: String
    static let names = [
        "Quarterly report for the regional operations team, final revision (approved by finance) 2026.pdf",
        "an-extremely-long-file-name-without-any-spaces-that-must-wrap-somewhere-inside-its-column.tar.gz",
        "file-1.txt", "file-2.txt", "file-10.txt", "photo.jpg", "disk-image.iso", "notes.md", "empty.log",
    ]
    static let folders = ["src", "Archive 2025", "a folder with a rather long name that goes on and on"]

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("httpserve-gallery-\(UUID().uuidString)").path
        let gallery = path + "/gallery"
        for folder in Self.folders { try FileManager.default.createDirectory(atPath: gallery + "/" + folder, withIntermediateDirectories: true) }
        let sizes: [UInt64] = [48_213, 3_100_000_000 / 7, 999, 12_650, 2_048, 4_718_592, 1_288_490_189, 310, 0]
        for (name, size) in zip(Self.names, sizes) {
            let file = gallery + "/" + name
            _ = FileManager.default.createFile(atPath: file, contents: nil)
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: file))
            try handle.truncate(atOffset: size)
            try handle.close()
        }
        _ = FileManager.default.createFile(atPath: path + "/probe.html", contents: Data(probe.utf8))
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

@Suite("The listing in a browser", .serialized, .enabled(if: chromium != nil, "needs chromium (apt-get install chromium)"))
struct ListingBrowserTests {
    @Test("headless Chromium at 390 and 1200 px, light and dark: no size or date wraps, no sideways scroll, nothing fetched", arguments: [false, true])
    func layout(dark: Bool) async throws {
        let gallery = try Gallery()
        let serve = try Serve([gallery.path, "--port", "0"])
        let flags = "--headless --no-sandbox --disable-gpu --virtual-time-budget=10000 --window-size=1300,1800" + (dark ? " --force-dark-mode" : "")
        let dom = try await sh("\(chromium!) \(flags) --dump-dom \(serve.base)/probe.html 2>/dev/null")
        #expect(await serve.stop() == 0)
        let match = try #require(dom.firstMatch(of: /<pre id="result">([^<]*)<\/pre>/), "the probe did not finish: \(dom.prefix(500))")
        let result = try JSONSerialization.jsonObject(with: Data(String(match.1).utf8)) as? [String: [String: Any]]
        for width in ["390", "1200"] {
            let frame = try #require(result?[width], "\(width): \(String(describing: result))")
            #expect(frame["rows"] as? Int == Gallery.names.count + Gallery.folders.count, "\(width): \(frame)")
            #expect(frame["wrapped"] as? Int == 0, "\(width): a size or a date wraps: \(frame)")
            #expect((frame["oneLine"] as? Int ?? 0) >= 2 * Gallery.names.count, "\(width): the files' sizes and dates were not measured: \(frame)")
            #expect(frame["overflow"] as? Bool == false, "\(width): the page scrolls sideways: \(frame)")
            #expect(frame["resources"] as? Int == 0, "\(width): the listing fetched something: \(frame)")
            #expect(frame["dark"] as? Bool == dark, "\(width): dark \(dark) wanted: \(frame)")
            #expect(frame["typed"] as? Int == 2, "\(width): typing filters to file-1.txt and file-10.txt: \(frame)")
        }
        #expect((result?["390"]?["longLines"] as? Int ?? 0) > 1, "a long name wraps inside its column at 390 px")
    }
}
