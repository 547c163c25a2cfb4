import Foundation
import TestSupport
import Testing

/// A folder with what an archive must get right: nesting, an empty folder, a non-ASCII name, a dotfile, a
/// link inside and one leaving the root, a file larger than one CRC step (8 MiB), an empty file.
final class ArchiveFolder {
    let base: String
    let path: String
    init() throws {
        base = FileManager.default.temporaryDirectory.appendingPathComponent("httpserve-zip-\(UUID().uuidString)").path
        path = base + "/site"
        let fm = FileManager.default
        for folder in ["site/docs/sub", "site/docs/empty", "site/cgi-bin", "outside"] {
            try fm.createDirectory(atPath: base + "/" + folder, withIntermediateDirectories: true)
        }
        func write(_ name: String, _ data: Data) { _ = fm.createFile(atPath: path + "/" + name, contents: data) }
        write("docs/a.txt", Data("alpha\n".utf8))
        write("docs/sub/deep.txt", Data(String(repeating: "deep ", count: 1000).utf8))
        write("docs/café ☕.txt", Data("non-ASCII name\n".utf8))
        write("docs/.env", Data("SECRET=1".utf8))
        write("docs/nothing.txt", Data())
        var x: UInt32 = 2_463_534_242
        write("docs/big.bin", Data((0..<(10 << 20)).map { _ in
            x ^= x << 13; x ^= x >> 17; x ^= x << 5
            return UInt8(truncatingIfNeeded: x)
        }))
        write("cgi-bin/hello", Data("#!/bin/sh\necho 'Content-Type: text/plain'\necho\necho hi\n".utf8))
        chmod(path + "/cgi-bin/hello", 0o755)
        _ = fm.createFile(atPath: base + "/outside/secret.txt", contents: Data("outside the root".utf8))
        try fm.createSymbolicLink(atPath: path + "/docs/link-in.txt", withDestinationPath: path + "/docs/a.txt")
        try fm.createSymbolicLink(atPath: path + "/docs/link-out", withDestinationPath: base + "/outside")
    }
    deinit { try? FileManager.default.removeItem(atPath: base) }
}

@Suite("httpserve: folders as ZIP archives", .serialized)
struct ArchiveTests {
    @Test("Python's zipfile and unzip -t accept the archive: names, contents, CRCs; exact Content-Length; links out and dotfiles left out")
    func pythonAndUnzip() async throws {
        let folder = try ArchiveFolder()
        let serve = try Serve([folder.path, "--port", "0"])
        let zip = folder.base + "/docs.zip"
        let head = try await sh("curl -s -D - -o '\(zip)' '\(serve.base)/docs/?download=zip'")
        let size = try FileManager.default.attributesOfItem(atPath: zip)[.size] as? Int
        #expect(head.lowercased().contains("content-length: \(size ?? -1)\r\n"), "\(head)")
        #expect(head.contains("Content-Type: application/zip") && head.contains("filename=\"docs.zip\""), "\(head)")
        let out = try await python("""
            import zipfile, os
            z = zipfile.ZipFile('\(zip)')
            print(z.testzip())
            names = z.namelist()
            print(names)
            for n in names:
                if n.endswith('/'): continue
                with open(os.path.join('\(folder.path)/docs', n), 'rb') as f:
                    assert z.read(n) == f.read(), n
            i = z.getinfo('big.bin')
            print(i.compress_type, i.file_size, i.flag_bits & 0x808, i.date_time[0] >= 2024)
            """)
        let lines = out.split(separator: "\n").map(String.init)
        #expect(lines.first == "None", "testzip: \(out)")
        #expect(lines.count > 1 && lines[1] == "['a.txt', 'big.bin', 'café ☕.txt', 'empty/', 'link-in.txt', 'nothing.txt', 'sub/', 'sub/deep.txt']", "\(out)")
        #expect(lines.last == "0 10485760 2056 True", "\(out)")
        let unzip = try await sh("LC_ALL=C.UTF-8 unzip -t '\(zip)'")
        #expect(unzip.contains("No errors detected in compressed data"), "\(unzip)")
        #expect(!unzip.contains("link-out") && !unzip.contains(".env"))
        #expect(try await sh("cd '\(folder.base)' && mkdir x && cd x && LC_ALL=C.UTF-8 unzip -q ../docs.zip && cat 'café ☕.txt' && ls -d empty") == "non-ASCII name\nempty\n")
        #expect(await serve.stop() == 0)
    }

    @Test("--hidden puts dotfiles in; --cgi keeps cgi-bin out; the root's archive is named after ROOT")
    func hiddenAndCGI() async throws {
        let folder = try ArchiveFolder()
        let serve = try Serve([folder.path, "--port", "0", "--hidden", "--cgi"])
        let names = try await python("""
            import zipfile, io, urllib.request
            r = urllib.request.urlopen('\(serve.base)/?download=zip')
            print(r.headers['Content-Disposition'])
            print(' '.join(zipfile.ZipFile(io.BytesIO(r.read())).namelist()))
            """)
        #expect(names.hasPrefix("attachment; filename=\"site.zip\"\n"), "\(names)")
        #expect(names.contains("docs/.env") && names.contains("docs/empty/"), "\(names)")
        #expect(!names.contains("cgi-bin"), "the scripts' folder never appears: \(names)")
        #expect(try await sh("curl -s \(serve.base)/cgi-bin/hello") == "hi\n")
        #expect(await serve.stop() == 0)
    }

    @Test("a resumed download (curl -C -) gives the same bytes as one download; If-Range with a stale tag sends the whole")
    func resume() async throws {
        let folder = try ArchiveFolder()
        let serve = try Serve([folder.path, "--port", "0"])
        let url = "\(serve.base)/docs/?download=zip"
        let dir = folder.base
        let out = try await sh("""
            cd '\(dir)' && curl -s -o whole.zip '\(url)' && head -c 5000000 whole.zip > part.zip && \
            curl -s -C - -o part.zip '\(url)' && cmp whole.zip part.zip && echo same && \
            curl -s -o /dev/null -w '%{http_code} ' -r 100- -H 'If-Range: "stale"' '\(url)' && \
            curl -s -o /dev/null -w '%{http_code}' -r 100-199 '\(url)'
            """)
        #expect(out == "same\n200 206", "\(out)")
        #expect(await serve.stop() == 0)
    }

    @Test("--no-archive: ?download=zip is the listing; --no-listing: 404")
    func flags() async throws {
        let folder = try ArchiveFolder()
        let off = try Serve([folder.path, "--port", "0", "--no-archive"])
        #expect(try await sh("curl -s -o /dev/null -w '%{content_type}' '\(off.base)/docs/?download=zip'") == "text/html; charset=utf-8")
        #expect(!(try await sh("curl -s '\(off.base)/docs/'")).contains("download=zip"))
        #expect(await off.stop() == 0)
        let none = try Serve([folder.path, "--port", "0", "--no-listing"])
        #expect(try await sh("curl -s -o /dev/null -w '%{http_code}' '\(none.base)/docs/?download=zip'") == "404")
        #expect(await none.stop() == 0)
        let on = try Serve([folder.path, "--port", "0"])
        #expect(try await sh("curl -s '\(on.base)/docs/'").contains("href=\"?download=zip\""))
        #expect(await on.stop() == 0)
    }

    @Test("a tree of 20,000 small files in 200 folders: planned (HEAD) and sent whole, every entry in the archive")
    func manyFiles() async throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("httpserve-zip-many-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: base) }
        let setup = try await python("""
            import os
            for d in range(200):
                os.makedirs('\(base)/site/tree/d%03d' % d)
                for f in range(100):
                    with open('\(base)/site/tree/d%03d/f%03d.txt' % (d, f), 'w') as out: out.write('file %d %d\\n' % (d, f))
            print('ok')
            """)
        try #require(setup == "ok\n", "\(setup)")
        let serve = try Serve([base + "/site", "--port", "0"])
        let out = try await python("""
            import time, urllib.request, zipfile, io
            url = '\(serve.base)/tree/?download=zip'
            t = time.time()
            r = urllib.request.urlopen(urllib.request.Request(url, method='HEAD')); r.read()
            plan = time.time() - t
            t = time.time()
            data = urllib.request.urlopen(url).read()
            whole = time.time() - t
            z = zipfile.ZipFile(io.BytesIO(data))
            names = z.namelist()
            print(len(names), len(data) == int(r.headers['Content-Length']), z.testzip(), z.read('d123/f045.txt').decode().strip())
            print('plan %.2f s, whole %.2f s, %d bytes' % (plan, whole, len(data)))
            """)
        let lines = out.split(separator: "\n").map(String.init)
        #expect(lines.first == "20200 True None file 123 45", "\(out)")
        print("zip of 20,000 files: \(lines.dropFirst().joined()); server peak RSS \((serve.peakRSS ?? 0) >> 20) MiB")
        #expect(await serve.stop() == 0)
    }

    @Test("ZIP64 past 4 GiB with a sparse 5 GiB file: the whole archive streamed (CRC checked on the way, zipfile reads the ZIP64 records) in bounded memory; the end records from a cold Range")
    func zip64() async throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("httpserve-zip64-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: base) }
        let setup = try await sh("""
            mkdir -p '\(base)/site/big' && cd '\(base)/site/big' && truncate -s 5G huge.bin && \
            printf head | dd of=huge.bin conv=notrunc status=none && \
            printf tail | dd of=huge.bin bs=1 seek=$((5 * 1024 * 1024 * 1024 - 4)) conv=notrunc status=none && \
            printf after > z-after.txt && echo ok
            """)
        try #require(setup == "ok\n", "\(setup)")
        let serve = try Serve([base + "/site", "--port", "0"])
        let url = "\(serve.base)/big/?download=zip"
        let rssBefore = serve.rss ?? 0
        // The whole archive through a pipe, in one pass (5 GiB read once more would only load the machine): it
        // is stored sparse (runs of zeros skipped) while the CRC-32 of huge.bin's stored bytes is computed as
        // they stream by; then zipfile reads the copy's central directory and ZIP64 records, and its CRC must
        // be the streamed one. (zipfile.testzip and unzip -t check whole archives in the tests above.)
        let zipPath = base + "/big.zip"
        let whole = try await python("""
            import subprocess, time, os, zlib, zipfile
            t = time.time()
            p = subprocess.Popen(['curl', '-s', '-D', '\(base)/head.txt', '\(url)'], stdout=subprocess.PIPE)
            zero = bytes(1 << 20); n = 0; crc = 0
            start = 30 + len('huge.bin') + 9 + 20  # huge.bin's local header: name, extended time, ZIP64
            end = start + 5 * 1024 ** 3
            with open('\(zipPath)', 'wb') as f:
                while True:
                    chunk = p.stdout.read(1 << 20)
                    if not chunk: break
                    lo, hi = max(start, n), min(end, n + len(chunk))
                    if lo < hi: crc = zlib.crc32(chunk[lo - n:hi - n], crc)
                    if chunk == zero[:len(chunk)]: f.seek(len(chunk), 1)
                    else: f.write(chunk)
                    n += len(chunk)
                f.truncate(n)
            p.wait()
            length = [l for l in open('\(base)/head.txt') if l.lower().startswith('content-length')][0].split()[1]
            print(n == int(length), round(time.time() - t, 1))
            z = zipfile.ZipFile('\(zipPath)')
            i = z.getinfo('huge.bin')
            with open('\(zipPath)', 'rb') as f:
                f.seek(end); descriptor = f.read(24)
            ok = i.CRC == crc and descriptor[4:8] == crc.to_bytes(4, 'little') and i.header_offset == 0
            print(ok, [(i.filename, i.file_size, i.compress_size) for i in z.infolist()], z.read('z-after.txt'))
            """)
        let lines = whole.split(separator: "\n").map(String.init)
        #expect(lines.first?.hasPrefix("True ") == true, "the body is Content-Length bytes: \(whole)")
        #expect(lines.count > 1 && lines[1] == "True [('huge.bin', 5368709120, 5368709120), ('z-after.txt', 5, 5)] b'after'", "\(whole)")
        let peak = serve.peakRSS ?? 0
        #expect(peak - rssBefore < 64 << 20, "the server's memory stays bounded: before \(rssBefore >> 20) MiB, peak \(peak >> 20) MiB")
        #expect(await serve.stop() == 0)
        let fresh = try Serve([base + "/site", "--port", "0"])
        let freshURL = "\(fresh.base)/big/?download=zip"
        // The end of the archive, from a fresh server that has computed no CRC yet: it reads 5 GiB for it.
        let tail = try await python("""
            import urllib.request, struct, zlib, time
            t = time.time()
            req = urllib.request.Request('\(freshURL)', headers={'Range': 'bytes=-400'})
            r = urllib.request.urlopen(req); data = r.read()
            total = int(r.headers['Content-Range'].split('/')[1])
            eocd = data.rindex(b'PK\\x05\\x06')
            count, cdsize, cdoff = struct.unpack('<HII', data[eocd + 10:eocd + 20])
            loc = data.rindex(b'PK\\x06\\x07')
            (rec,) = struct.unpack('<Q', data[loc + 8:loc + 16])
            z64 = data[loc - 56:loc]
            assert z64[:4] == b'PK\\x06\\x06', z64[:4]
            n, cdsize64, cdoff64 = struct.unpack('<QQQ', z64[32:56])
            cd = data[len(data) - (total - cdoff64):]
            # The first central record: huge.bin's sizes in its ZIP64 extra field.
            assert cd[:4] == b'PK\\x01\\x02'
            crc, csize, usize, nlen, xlen = struct.unpack('<IIIHH', cd[16:32])
            name = cd[46:46 + nlen]
            extra = cd[46 + nlen:46 + nlen + xlen]
            assert extra[:2] == b'UT' and extra[9:11] == b'\\x01\\x00', extra
            size64, csize64 = struct.unpack('<QQ', extra[13:29])
            want = zlib.crc32(b'head')
            zero = bytes(1 << 20)
            left = 5 * 1024 ** 3 - 8
            while left:
                k = min(left, len(zero)); want = zlib.crc32(zero[:k], want); left -= k
            want = zlib.crc32(b'tail', want)
            print(r.status, count, hex(cdoff), n, name.decode(), hex(csize), size64, csize64, crc == want, rec == cdoff64 + cdsize64, round(time.time() - t, 1))
            """)
        #expect(tail.hasPrefix("206 2 0xffffffff 2 huge.bin 0xffffffff 5368709120 5368709120 True True "), "\(tail)")
        print("zip64: \(tail.trimmingCharacters(in: .newlines)); download: \(lines); server RSS before \(rssBefore >> 20) MiB, peak \(peak >> 20) MiB")
        #expect(await fresh.stop() == 0)
    }
}

@Suite("httpserve: ZIP archives over HTTPS", .serialized)
struct ArchiveTLSTests {
    @Test("over HTTPS (file regions read into bytes under TLS) the archive is the same bytes as over HTTP")
    func overTLS() async throws {
        let certs = try TestCertificates()
        let folder = try ArchiveFolder()
        let tls = try Serve([folder.path, "-p", "0", "--tls-cert", certs.serverCert, "--tls-key", certs.serverKey])
        let plain = try Serve([folder.path, "-p", "0"])
        let out = try await sh("""
            cd '\(folder.base)' && curl -sS --cacert \(certs.ca) -o tls.zip 'https://127.0.0.1:\(tls.port)/docs/?download=zip' && \
            curl -sS -o plain.zip '\(plain.base)/docs/?download=zip' && cmp tls.zip plain.zip && echo same
            """)
        #expect(out == "same\n", "\(out)")
        #expect(await tls.stop() == 0)
        #expect(await plain.stop() == 0)
    }
}
