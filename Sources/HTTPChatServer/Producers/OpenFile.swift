public import NIOCore

/// An open file descriptor and the one object that owns it: the descriptor is closed exactly once, in
/// `deinit`, when the last reference goes. Whoever needs the file open holds a reference (the open-file
/// cache while an entry is valid, a producer while it sends); nobody counts holds or closes by hand, so a
/// response that is dropped without being sent (a download aborted, a body never pulled) cannot leak the
/// descriptor, and no path can close it twice.
///
/// The close happens on whichever thread lets go last, often an event loop: `close(2)` of a regular file
/// does not block the way a socket's or a network file system's can, which is what the file server opens.
/// Code that hands the handle to asynchronous I/O (`NonBlockingFileIO`) keeps this object alive until
/// that I/O has completed, so the descriptor is never closed under a running read.
public final class OpenFile: Sendable {
    /// The handle, for `FileRegion` and `NonBlockingFileIO`. Valid while this object lives; never close it.
    public let handle: NIOFileHandle
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

    deinit {
        try? handle.close()
    }
}
