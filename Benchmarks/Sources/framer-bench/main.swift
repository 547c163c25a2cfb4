// Framer throughput: a 1 GiB stream of 1 KiB lines framed by "\r\n", fed in 64 KiB reads, against a plain
// memchr scan for "\n" over the same bytes. Prints the median of several runs and the ratio.
//
//     cd Benchmarks && swift run -c release framer-bench [GiB] [runs]
import HTTPChat
import NIOCore
import Foundation

#if canImport(Glibc)
import Glibc
#endif

let gib = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 1 : 1
let runs = CommandLine.arguments.count > 2 ? Int(CommandLine.arguments[2]) ?? 5 : 5
let lineLength = 1024
// A real 1 GiB buffer (not one small block fed again and again, which would sit in cache and flatter
// both sides), cut into 64 KiB reads that share its storage as NIO's reads would.
let total = gib << 30
var source = ByteBufferAllocator().buffer(capacity: total)
var line = [UInt8](repeating: UInt8(ascii: "a"), count: lineLength - 2)
line += [13, 10]
for _ in 0..<(total / lineLength) { source.writeBytes(line) }
let readSize = 64 * 1024
let reads: [ByteBuffer] = stride(from: 0, to: total, by: readSize).map {
    source.getSlice(at: $0, length: readSize)!
}
let totalBytes = Double(total)

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

func framer() -> (seconds: Double, frames: Int) {
    var f = ChatFramer(terminator: .delimiter("\r\n"))
    var frames = 0
    var dataBytes = 0
    let start = now()
    do {
        for read in reads {
            f.append(read)
            while let event = try! f.next() {
                switch event {
                case .data(let d): dataBytes &+= d.readableBytes
                case .terminator: frames &+= 1
                }
            }
        }
    }
    let elapsed = now() - start
    precondition(dataBytes == frames * (lineLength - 2))
    return (elapsed, frames)
}

func memchrScan() -> (seconds: Double, frames: Int) {
    var frames = 0
    let start = now()
    do {
        for read in reads {
            read.withUnsafeReadableBytes { raw in
                var p = raw.baseAddress!
                let end = p + raw.count
                while p < end, let hit = memchr(p, 10, end - p) {
                    frames &+= 1
                    p = UnsafeRawPointer(hit) + 1
                }
            }
        }
    }
    return (now() - start, frames)
}

func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }

var framerTimes: [Double] = []
var memchrTimes: [Double] = []
for _ in 0..<runs {
    let m = memchrScan()
    let f = framer()
    precondition(m.frames == f.frames, "frame counts differ: \(m.frames) vs \(f.frames)")
    memchrTimes.append(m.seconds)
    framerTimes.append(f.seconds)
}
let fm = median(framerTimes), mm = median(memchrTimes)
print("stream: \(gib) GiB of \(lineLength)-byte lines in \(readSize / 1024) KiB reads, \(runs) runs (median)")
print(String(format: "memchr scan : %.3f s  %.2f GB/s", mm, totalBytes / mm / 1e9))
print(String(format: "ChatFramer  : %.3f s  %.2f GB/s", fm, totalBytes / fm / 1e9))
print(String(format: "ratio (framer/memchr throughput): %.2fx", mm / fm))
