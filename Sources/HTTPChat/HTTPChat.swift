// The umbrella: `import HTTPChat` is the one import an embedder needs. The library is built as layered targets
// so that SwiftPM holds the direction between them (ARCHITECTURE.md, "Targets"); this target re-exports them.
// Tests of code built on HTTPChat add `import HTTPChatTesting` (InProcessConnection, TestResponse, collect()).

// The chat layer (``ChatListener``, ``ChatChannel``, ``ChatProtocol``, ``ChatProducer``) and the HTTP/1.x wire
// code (``HTTPRequestDecoder``, ``HTTPHeadParser``, ``HTTPLimits``, ``HTTPParseError``).
@_exported public import HTTPChatCore
// Requests and responses, ``HTTPResponder``, the ``Router``, producers, the ``FileServer``, forms and
// ``HTTPServer``.
@_exported public import HTTPChatServer
// CGI/1.1 scripts (``CGIResponder``, ``CGIFileServer``).
@_exported public import HTTPChatCGI
