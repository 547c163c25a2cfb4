public import NIOCore
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An open file descriptor and the one object that owns it: the descriptor is closed exactly once, in
/// `deinit`, when the last reference goes. Whoever needs the file open holds a reference (the open-file
/// cache while an entry is valid, a producer while it sends); nobody counts holds or closes by hand, so a
/// response that is dropped without being sent (a download aborted, a body never pulled) cannot leak the
/// descriptor, and no path can close it twice.
///
/// The close happens on whichever thread lets go last, often an event loop: `close(2)` of a regular file
/// does not block the way a socket's or a network file system's can, which is what the file server opens.
/// Code that reads the descriptor on a thread pool keeps this object alive until the read has completed, so
/// the descriptor is never closed under a running read.
public final class OpenFile: Sendable {
    /// The handle, for the first event loop that sends the file (see ``handle(on:)``). Valid while this object
    /// lives; never close it.
    public let handle: NIOFileHandle
    /// The handles of the other event loops that send the file: duplicates of the descriptor, closed with it.
    private let loopHandles = NIOLockedValueBox<(first: ObjectIdentifier?, others: [ObjectIdentifier: NIOFileHandle])>(
        (nil, [:])
    )
    /// The descriptor, for positional reads from several threads at once: `NIOFileHandle` lends its
    /// descriptor to one user at a time (`withUnsafeFileDescriptor` fails with EBUSY while another thread
    /// holds it), and a file the cache shares is read by many connections. Valid while this object lives.
    package let descriptor: CInt

    /// Takes ownership of an open descriptor.
    ///
    /// - Parameter descriptor: an open descriptor nobody else closes.
    public init(takingOwnershipOf descriptor: CInt) {
        handle = NIOFileHandle(_deprecatedTakingOwnershipOfDescriptor: descriptor)
        self.descriptor = descriptor
    }

    /// Takes ownership of an open handle.
    ///
    /// - Parameter handle: an open handle nobody else closes.
    public init(handle: NIOFileHandle) {
        self.handle = handle
        self.descriptor = (try? handle.withUnsafeFileDescriptor { $0 }) ?? -1
    }

    /// The handle for `FileRegion`s written on `loop`. `NIOFileHandle` lends its descriptor to one user at a
    /// time (`sendfile` takes it, and a second thread taking it meanwhile fails with EBUSY), while a file the
    /// cache shares is sent by every loop's connections at once: each loop gets a handle of its own, the first
    /// loop this one and each other loop a duplicate of the descriptor, made once. Within one loop, writes
    /// take turns, so connections of one loop can share their loop's handle.
    ///
    /// - Parameter loop: the event loop that writes the regions.
    /// - Returns: a handle only `loop` uses; valid while this object lives.
    public func handle(on loop: any EventLoop) -> NIOFileHandle {
        let id = ObjectIdentifier(loop)
        return loopHandles.withLockedValue { handles in
            if handles.first == nil { handles.first = id }
            if handles.first == id { return handle }
            if let own = handles.others[id] { return own }
            let copy = dup(descriptor)
            // Out of descriptors: share the first handle (a concurrent send then fails with EBUSY and that
            // connection closes; nothing else breaks).
            guard copy >= 0 else { return handle }
            let own = NIOFileHandle(_deprecatedTakingOwnershipOfDescriptor: copy)
            handles.others[id] = own
            return own
        }
    }

    deinit {
        for own in loopHandles.withLockedValue({ $0.others.values }) { try? own.close() }
        try? handle.close()
    }
}
