// httpserve: serve a folder over HTTP. Thin on purpose: parse flags, build a configuration, run.
import ArgumentParser
import HTTPChat
import HTTPChatServer
import Logging
import CoreMetrics
import NIOConcurrencyHelpers
import NIOCore
import Prometheus
import ServiceLifecycle
import UnixSignals

#if canImport(Glibc)
import Glibc
#endif

@main
struct HTTPServe: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "httpserve",
        abstract: "Serve a folder over HTTP/1.1 or HTTPS: ranges, conditional requests, gzip, listings, sendfile.",
        discussion: """
            ROOT (or -d FOLDER) defaults to ./public when it exists, else the current folder. The first line printed is "Serving ROOT at http://HOST:PORT/"; with --port 0 it tells the port picked.

            Examples:
              httpserve                      serve ./public at http://127.0.0.1:8000/
              httpserve ~/site -p 0          pick a free port
              httpserve dist --spa index.html
                                             unknown paths get index.html
              httpserve -b 0.0.0.0 --cors    share on the network, with CORS
              httpserve --quiet --access-log access.log
                                             log requests to a file, print nothing
              httpserve --auth alice:secret --header "X-Frame-Options: DENY"
              httpserve --upload --max-body 1000000000 --auth bob:pw
                                             accept uploads of up to 1 GB
              httpserve site --live-reload   reload the browser's page when a file changes
              httpserve --tls-cert cert.pem --tls-key key.pem -p 8443 --redirect-http 8080
                                             HTTPS, with plain HTTP redirected to it

            With --tls-cert, SIGHUP reloads the certificate and key (renewed files) for new connections;
            when the new pair cannot be used, the old one stays and the reason is logged.
            """,
        version: HTTPChatVersion.string
    )

    @Argument(help: "The folder to serve.")
    var root: String?

    @Option(name: [.short, .customLong("directory")], help: ArgumentHelp("The folder to serve (instead of ROOT).", valueName: "folder"))
    var directory: String?

    @Option(name: [.customShort("b"), .long, .customLong("bind")], help: "The address to listen on.")
    var host = "127.0.0.1"

    // `.unconditional`: `--port -1` is a value to refuse as out of range, not a missing value.
    @Option(name: [.short, .long], parsing: .unconditional, help: "The port to listen on (0 picks a free one).")
    var port = 8000

    @Option(parsing: .unconditional, help: "Event loop threads (default: one per core).")
    var threads: Int?

    @Flag(help: "Never compress responses.")
    var noGzip = false

    @Flag(help: "Answer 404 for folders without index.html instead of listing them (also turns off ZIP downloads).")
    var noListing = false

    @Flag(help: "No folder downloads: ?download=zip is then an ordinary request.")
    var noArchive = false

    @Flag(help: "Serve names starting with a dot.")
    var hidden = false

    @Flag(help: "Follow symlinks that lead outside ROOT.")
    var followSymlinks = false

    @Flag(help: "Accept uploads: POST multipart/form-data to a folder, PUT to /folder/name (bounded by --max-body).")
    var upload = false

    @Flag(help: "With --upload, replace existing files (else an existing name is 409).")
    var overwrite = false

    @Option(help: ArgumentHelp("Answer unknown paths that accept HTML with this file (relative to ROOT).", valueName: "file"))
    var spa: String?

    @Flag(help: "Run the executables in ROOT/cgi-bin as CGI/1.1 scripts at /cgi-bin/NAME[/PATH_INFO].")
    var cgi = false

    @Option(parsing: .unconditional, help: ArgumentHelp("Seconds a CGI script may run before it is killed (504).", valueName: "seconds"))
    var cgiTimeout: Double = 30

    @Option(parsing: .unconditional, help: ArgumentHelp("The most CGI scripts running at once; more are answered 503.", valueName: "n"))
    var cgiMax = 64

    @Flag(help: ArgumentHelp(
        "Reload pages in the browser when files in ROOT change (stylesheets are swapped without a reload).",
        discussion: "HTML pages get a small script that listens at \(LiveReload.eventsPath) (server-sent events); ROOT is watched with inotify. Never for --cgi's scripts."))
    var liveReload = false

    @Flag(help: "Allow cross-origin requests from any origin (CORS).")
    var cors = false

    @Option(help: ArgumentHelp(
        "Also take uploads and other state-changing requests from pages of this origin, scheme://host[:port] (repeatable). Without it a browser's POST, PUT, DELETE or PATCH from another origin (Sec-Fetch-Site, else Origin against Host) gets 403, with --cors too; curl and scripts send neither field and pass.",
        valueName: "origin"))
    var trustedOrigin: [String] = []

    @Option(help: ArgumentHelp("A Cache-Control value for files.", valueName: "value"))
    var cacheControl: String?

    @Flag(help: "Send Cache-Control: no-cache (clients revalidate every time).")
    var noCache = false

    @Option(help: ArgumentHelp("Write the access log (one Combined Log Format line per request) to PATH instead of stdout; - is stdout.", valueName: "path"))
    var accessLog: String?

    @Flag(help: "Print nothing but errors: no start-up line, no access log on stdout (--access-log PATH still writes).")
    var quiet = false

    @Option(help: ArgumentHelp(
        "Require HTTP Basic authentication: USER:PASSWORD or USER:sha256:HEX (repeatable). Other local users can read it in the process list: prefer --auth-file or \(AuthSources.variable).",
        valueName: "user:secret"))
    var auth: [String] = []

    @Option(help: ArgumentHelp(
        "Require HTTP Basic authentication with the credentials in FILE: one USER:PASSWORD or USER:sha256:HEX per line; the file must not be readable by group or others (chmod 600). \(AuthSources.variable) in the environment works the same way.",
        valueName: "file"))
    var authFile: String?

    @Option(help: ArgumentHelp(
        "Also answer to this Host name (repeatable; .example.test allows the name and its subdomains). Bound to loopback (the default), other names than localhost, *.localhost, 127.x.y.z and [::1] get 403: a web page cannot read the folder through DNS rebinding. Given with another address, only these and loopback names are answered.",
        valueName: "name"))
    var allowedHost: [String] = []

    @Option(help: ArgumentHelp(
        "Add a field to every response, errors and --health included, e.g. \"X-Frame-Options: DENY\" (repeatable; a name given twice is sent twice). Content-Type, Content-Encoding, ETag, Last-Modified, Vary and framing fields are refused.",
        valueName: "field"))
    var header: [String] = []

    @Option(parsing: .unconditional, help: ArgumentHelp(
        "The largest request body accepted, in bytes (default: \(HTTPLimits().maxBodyBytes), 8 MiB).", valueName: "bytes"))
    var maxBody: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("Seconds a client may take to send a request head.", valueName: "seconds"))
    var headerTimeout: Double = 10

    @Option(parsing: .unconditional, help: ArgumentHelp("Seconds a client may pause while sending a request body.", valueName: "seconds"))
    var bodyTimeout: Double = 60

    @Option(parsing: .unconditional, help: ArgumentHelp("Seconds a client may take no response bytes before it is dropped.", valueName: "seconds"))
    var sendTimeout: Double = 60

    @Option(parsing: .unconditional, help: ArgumentHelp("Seconds an idle keep-alive connection stays open.", valueName: "seconds"))
    var idleTimeout: Double = 60

    @Option(help: ArgumentHelp("Serve HTTPS with this PEM certificate (then any intermediates).", valueName: "file"))
    var tlsCert: String?

    @Option(help: ArgumentHelp("The PEM private key of --tls-cert.", valueName: "file"))
    var tlsKey: String?

    @Option(help: ArgumentHelp("Mutual TLS: require client certificates signed by this PEM CA.", valueName: "file"))
    var tlsClientCa: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("Also listen on PORT for plain HTTP, answering 308 to https (0 picks a free one).", valueName: "port"))
    var redirectHttp: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("Send Strict-Transport-Security: max-age=SECONDS over HTTPS.", valueName: "seconds"))
    var hsts: Int?

    @Option(help: ArgumentHelp("Serve Prometheus metrics at PATH (e.g. /metrics): requests by method and status, durations, connections.", valueName: "path"))
    var metrics: String?

    @Option(parsing: .unconditional, help: ArgumentHelp(
        "The most connections open at once; more wait in the listen backlog (default: 16384, or less when the descriptor limit is low).",
        valueName: "n"))
    var maxConnections: Int?

    @Flag(help: "Every connection starts with a PROXY protocol header (v1 or v2) from a --trusted-proxy; others are closed.")
    var proxyProtocol = false

    @Option(help: ArgumentHelp(
        "Trust this proxy (CIDR, e.g. 10.0.0.0/8 or ::1; repeatable): its PROXY headers and Forwarded / X-Forwarded-* fields name the client.",
        valueName: "cidr"))
    var trustedProxy: [String] = []

    @Flag(help: "Set SO_REUSEPORT, so that a new httpserve can listen on the same port before the old one stops (rolling restart).")
    var reusePort = false

    @Option(help: ArgumentHelp("Answer GET PATH with 200 while serving and 503 once shutdown has begun (for load balancers).", valueName: "path"))
    var health: String?

    @Option(parsing: .unconditional, help: ArgumentHelp(
        "On SIGTERM, keep serving this long (health answering 503) before winding down.", valueName: "seconds"))
    var drainDelay: Double = 0

    /// The folder actually served.
    var resolvedRoot: String {
        if let root = directory ?? root { return root }
        var st = stat()
        return stat("public", &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR ? "public" : "."
    }

    /// Raises the soft descriptor limit to the hard one (as nginx's `worker_rlimit_nofile` does), whether or
    /// not `--max-connections` was given, and returns the soft limit now in force (nil when unknown).
    static func raiseDescriptorLimit() -> Int? {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return nil }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        return Int(clamping: limit.rlim_cur)
    }

    /// The default connection cap: 16,384, or below `descriptors`, keeping a quarter (at most 256) of them for
    /// files, pipes and logs.
    static func defaultMaxConnections(descriptors: Int?) -> Int {
        guard let descriptors else { return 16_384 }
        return max(1, min(16_384, descriptors - min(256, descriptors / 4)))
    }

    func validate() throws {
        var st = stat()
        if root != nil && directory != nil { throw ValidationError("give the folder once: ROOT or --directory, not both") }
        guard stat(resolvedRoot, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else {
            // Python's habit, `http.server 8000`: the port comes first there.
            if let root, let number = Int(root), number >= 0, number <= 65535 {
                throw ValidationError("ROOT '\(root)' is not a folder; to listen on port \(root), use --port \(root) (or -p \(root))")
            }
            throw ValidationError("ROOT '\(resolvedRoot)' is not a folder")
        }
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0 to 65535, got \(port)") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        if let maxBody, maxBody < 0 { throw ValidationError("--max-body must not be negative") }
        if let maxConnections, maxConnections < 1 { throw ValidationError("--max-connections must be at least 1") }
        guard cgiMax >= 1 else { throw ValidationError("--cgi-max must be at least 1") }
        guard headerTimeout > 0, bodyTimeout > 0, sendTimeout > 0, idleTimeout > 0, cgiTimeout > 0 else { throw ValidationError("timeouts must be positive") }
        if cgi, stat(resolvedRoot + "/cgi-bin", &st) != 0 || (st.st_mode & S_IFMT) != S_IFDIR {
            throw ValidationError("--cgi needs a folder ROOT/cgi-bin")
        }
        if (tlsCert == nil) != (tlsKey == nil) { throw ValidationError("--tls-cert and --tls-key go together") }
        if tlsCert == nil {
            if tlsClientCa != nil { throw ValidationError("--tls-client-ca needs --tls-cert and --tls-key") }
            if redirectHttp != nil { throw ValidationError("--redirect-http needs --tls-cert and --tls-key") }
            if hsts != nil { throw ValidationError("--hsts needs --tls-cert and --tls-key") }
        }
        if let redirectHttp {
            guard (0...65535).contains(redirectHttp) else { throw ValidationError("--redirect-http must be 0 to 65535, got \(redirectHttp)") }
            if redirectHttp == port && port != 0 { throw ValidationError("--redirect-http must differ from --port") }
        }
        if let hsts, hsts < 0 { throw ValidationError("--hsts must not be negative") }
        do {
            _ = try ResponseHeaders(header)
        } catch {
            throw ValidationError("--header: \(error)")
        }
        if !auth.isEmpty {
            do {
                _ = try BasicAuth(auth)
            } catch {
                throw ValidationError("--auth: \(error)")
            }
        }
        do {
            if let authFile { _ = try AuthSources.readFile(authFile) }
            _ = try AuthSources.fromEnvironment()
        } catch {
            throw ValidationError("\(error)")
        }
        do {
            _ = try AllowedHosts(allowedHost)
        } catch {
            throw ValidationError("--allowed-host: \(error)")
        }
        do {
            _ = try CrossOriginProtection(trustedOrigins: trustedOrigin)
        } catch {
            throw ValidationError("--trusted-origin: \(error)")
        }
        if overwrite && !upload { throw ValidationError("--overwrite needs --upload") }
        if let metrics, !metrics.hasPrefix("/") { throw ValidationError("--metrics wants a path starting with /, e.g. /metrics") }
        if let health, !health.hasPrefix("/") { throw ValidationError("--health wants a path starting with /, e.g. /healthz") }
        if drainDelay < 0 { throw ValidationError("--drain-delay must not be negative") }
        for cidr in trustedProxy {
            do {
                _ = try CIDR(cidr)
            } catch {
                throw ValidationError("--trusted-proxy: \(error)")
            }
        }
        if proxyProtocol && trustedProxy.isEmpty {
            throw ValidationError("--proxy-protocol needs --trusted-proxy CIDR: only a trusted proxy's PROXY header is believed")
        }
        if proxyProtocol && tlsCert != nil {
            throw ValidationError("--proxy-protocol cannot be combined with --tls-cert: the PROXY header comes before the TLS handshake and would fail it; terminate TLS at the proxy")
        }
        if cacheControl != nil && noCache { throw ValidationError("--cache-control and --no-cache cannot be combined") }
        if let spa, stat(resolvedRoot + "/" + spa, &st) != 0 {
            throw ValidationError("--spa file '\(spa)' is not in ROOT")
        }
    }

    mutating func run() async throws {
        let level: Logger.Level = quiet ? .error : .warning
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "httpserve")

        var options = FileServerOptions()
        options.gzip = !noGzip
        options.listing = !noListing
        options.archive = !noArchive
        options.hidden = hidden
        options.followSymlinks = followSymlinks
        options.uploads = upload
        options.overwrite = overwrite
        options.spaFallback = spa
        options.cacheControl = noCache ? "no-cache" : cacheControl
        if liveReload {
            options.htmlSnippet = LiveReload.script
            options.cacheValidity = .zero  // a reload right after a change must see it, not a cached stat
        }
        let responder: any HTTPResponder
        let root: String
        if cgi {
            // One decision on the canonical path, in the library: scripts run, their folder is never served.
            var cgiOptions = CGIOptions()
            cgiOptions.timeout = .seconds(cgiTimeout)
            cgiOptions.serverName = host
            cgiOptions.serverPort = port
            cgiOptions.maxConcurrent = cgiMax
            let site = try CGIFileServer(root: resolvedRoot, fileOptions: options, cgiOptions: cgiOptions, logger: logger)
            responder = site
            root = site.files.root
        } else {
            let files = try FileServer(root: resolvedRoot, options: options)
            responder = files
            root = files.root
        }

        // Outermost first: the log sees every answer (401s too), CORS answers preflights before
        // authentication asks for credentials (browsers send none with them). The fixed fields of --header
        // are the connection's (configuration.responseHeaders), so they are on every answer.
        var middleware: [any HTTPMiddleware] = []
        if let accessLog {
            middleware.append(accessLog == "-" ? .standardOutput : try AccessLog.file(accessLog))
        } else if !quiet {
            middleware.append(.standardOutput)
        }
        // Right after the log (which records the 403s): on loopback, hosts other than loopback names are
        // refused before anything else runs (DNS rebinding). Activated sockets are judged by their address.
        let activatedDescriptors = HTTPServer.socketActivationDescriptors()
        let loopbackOnly = activatedDescriptors.isEmpty
            ? AllowedHosts.isLoopback(bindAddress: host)
            : activatedDescriptors.allSatisfy(Self.isLoopbackSocket)
        if loopbackOnly || !allowedHost.isEmpty { middleware.append(try AllowedHosts(allowedHost)) }
        var served: any HTTPResponder = responder
        var metricsFactory: (any MetricsFactory)?
        if let metrics {
            let registry = PrometheusCollectorRegistry()
            let factory = PrometheusMetricsFactory(registry: registry)
            metricsFactory = factory
            served = MetricsEndpoint(path: metrics, registry: registry, next: responder)
            middleware.append(HTTPMetrics(factory: factory))
        }
        var watcher: DirectoryWatcher?
        let hub = LiveReloadHub()
        if liveReload {
            do {
                // Not cgi-bin: its scripts' output is never injected, and changing a script reloads nothing.
                watcher = try DirectoryWatcher(
                    root: root, excluded: cgi ? ["cgi-bin"] : [], hidden: hidden,
                    onChange: { hub.publish($0) }, onProblem: { logger.warning("live reload: \($0)") }
                )
            } catch {
                let line = "Error: --live-reload: \(error)\n"
                _ = line.withCString { write(2, $0, strlen($0)) }
                throw ExitCode.failure
            }
            served = LiveReloadResponder(hub: hub, next: served)
        }
        defer { watcher?.stop() }
        if let hsts { middleware.append(StrictTransportSecurity(maxAge: hsts)) }
        // A file server offers reads only, and POST and PUT when it takes uploads.
        if cors { middleware.append(CORS(allowedMethods: upload ? [.get, .head, .post, .put] : [.get, .head])) }
        // Uploads, CGI POSTs and whatever else changes state: a browser's request from another origin is 403
        // before credentials are asked for (cross-site request forgery with cached Basic credentials).
        middleware.append(try CrossOriginProtection(trustedOrigins: trustedOrigin))
        // The command line, the file and the environment together; the variable is not passed on.
        let credentials = try auth + (authFile.map(AuthSources.readFile) ?? []) + (AuthSources.fromEnvironment() ?? [])
        AuthSources.forgetEnvironment()
        if !credentials.isEmpty { middleware.append(try BasicAuth(credentials, realm: "httpserve")) }

        var configuration = ServerConfiguration(host: host, port: port)
        configuration.metricsFactory = metricsFactory
        configuration.trustedProxies = try trustedProxy.map { try CIDR($0) }
        // On the connection, not as middleware: the server's own answers (400, 408, 413, 431, 501) and the
        // health answer get them too.
        if !header.isEmpty { configuration.responseHeaders = try ResponseHeaders(header) }
        configuration.proxyProtocol = proxyProtocol
        configuration.reusePort = reusePort
        // Started by systemd with sockets (LISTEN_FDS): serve on those instead of binding.
        configuration.listeningDescriptors = activatedDescriptors
        let readiness = Readiness()
        configuration.readiness = readiness
        configuration.drainDelay = .seconds(drainDelay)
        if let threads { configuration.threads = threads }
        if let maxBody { configuration.limits.maxBodyBytes = maxBody }
        configuration.limits.headerReadTimeout = .seconds(headerTimeout)
        configuration.limits.bodyReadTimeout = .seconds(bodyTimeout)
        configuration.chat.sendTimeout = .seconds(sendTimeout)
        configuration.limits.idleTimeout = .seconds(idleTimeout)
        if let tlsCert, let tlsKey {
            configuration.tls = TLSSettings(
                certificateChainFile: tlsCert, privateKeyFile: tlsKey, clientCertificateAuthorityFile: tlsClientCa
            )
        }
        let descriptors = Self.raiseDescriptorLimit()
        configuration.maxConnections = maxConnections ?? Self.defaultMaxConnections(descriptors: descriptors)

        let quiet = self.quiet
        let liveReload = self.liveReload
        let host = self.host
        let shownHost = host.contains(":") ? "[\(host)]" : host
        // The redirect port starts once the HTTPS port listens, so its port in the Location is the real one.
        let httpsPort = NIOLockedValueBox<Int?>(nil)
        let running = NIOLockedValueBox<HTTPServer?>(nil)
        // The health answer is outside the middleware: probes need no credentials and fill no access log.
        var site = served.wrapped(in: middleware)
        if let health { site = HealthCheck(path: health, readiness: readiness, next: site) }
        let activated = !configuration.listeningDescriptors.isEmpty
        let service = HTTPService(
            configuration: configuration, responder: site, gracePeriod: .seconds(10), logger: logger
        ) { server in
            httpsPort.withLockedValue { $0 = server.port }
            running.withLockedValue { $0 = server }
            if !quiet {
                let shown = activated ? server.localAddress.ipAddress ?? host : host
                for line in Self.startLines(root: root, host: shown, scheme: server.scheme, port: server.port) { print(line) }
                if liveReload { print("Live reload: pages reload when files in \(root) change") }
                fflush(nil)
            }
            if server.isTLS { Self.reloadOnHangUp(server, quiet: quiet, logger: logger) }
        }
        Self.reportShutdown(of: running, quiet: quiet, liveReload: hub)
        var services: [any Service] = [service]
        if let redirectHttp {
            var plain = configuration
            plain.tls = nil
            plain.port = redirectHttp
            plain.listeningDescriptors = []  // the activated sockets are the main port's
            services.append(
                RedirectService(configuration: plain, httpsPort: httpsPort, defaultHost: host, logger: logger) { server in
                    if !quiet {
                        print("Redirecting http://\(shownHost):\(server.port)/ to HTTPS")
                        fflush(nil)
                    }
                }
            )
        }
        let group = ServiceGroup(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        do {
            try await group.run()
            if !quiet {
                print("Stopped")
                fflush(nil)
            }
        } catch let error as TLSSettingsError {
            let line = "Error: \(error)\n"
            _ = line.withCString { write(2, $0, strlen($0)) }
            throw ExitCode.failure
        } catch {
            let failedPort = (error as? RedirectService.ListenError)?.port ?? port
            let cause = (error as? RedirectService.ListenError)?.underlying ?? error
            guard let message = HTTPServer.listenFailure(cause, host: host, port: failedPort) else { throw error }
            let line = "Error: \(message)\n"
            _ = line.withCString { write(2, $0, strlen($0)) }
            throw ExitCode.failure
        }
    }
}

extension HTTPServe {
    /// Whether the listening socket `descriptor` is bound to a loopback address (127.0.0.0/8, ::1).
    static func isLoopbackSocket(_ descriptor: Int32) -> Bool {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        guard rc == 0 else { return false }
        let address: SocketAddress
        switch Int32(storage.ss_family) {
        case AF_INET: address = SocketAddress(withUnsafeBytes(of: storage) { $0.load(as: sockaddr_in.self) }, host: "")
        case AF_INET6: address = SocketAddress(withUnsafeBytes(of: storage) { $0.load(as: sockaddr_in6.self) }, host: "")
        default: return false
        }
        return AllowedHosts.isLoopback(address)
    }

    /// The start-up lines: the first is `Serving ROOT at URL/` (scripts read the port from it); listening on
    /// every interface (`0.0.0.0`, `::`), the first URL is the loopback one and each other address of the
    /// machine follows on its own line, so the URL to give another device is on screen.
    static func startLines(root: String, host: String, scheme: String, port: Int) -> [String] {
        let everywhere = host == "0.0.0.0" || host == "::" || host == "[::]"
        guard everywhere else {
            let shown = host.contains(":") ? "[\(host)]" : host
            return ["Serving \(root) at \(scheme)://\(shown):\(port)/"]
        }
        var lines = ["Serving \(root) at \(scheme)://127.0.0.1:\(port)/ (every address of this machine)"]
        let devices = (try? System.enumerateDevices()) ?? []
        var seen: Set<String> = ["127.0.0.1"]
        for device in devices {
            guard let address = device.address, let ip = address.ipAddress, !seen.contains(ip) else { continue }
            switch address {
            case .v4:
                seen.insert(ip)
                lines.append("  also \(scheme)://\(ip):\(port)/")
            case .v6 where host != "0.0.0.0" && ip != "::1" && !ip.lowercased().hasPrefix("fe80"):
                seen.insert(ip)
                lines.append("  also \(scheme)://[\(ip)]:\(port)/")
            default:
                continue
            }
        }
        return lines
    }

    /// On the first SIGINT or SIGTERM (which also start the graceful shutdown), says how many connections
    /// are still open and that a second one stops at once; the second one does (exit 130).
    /// The live-reload event streams end then, so that they do not hold the graceful shutdown.
    static func reportShutdown(of running: NIOLockedValueBox<HTTPServer?>, quiet: Bool, liveReload: LiveReloadHub) {
        Task {
            var signals = 0
            for await signal in await UnixSignalsSequence(trapping: .sigint, .sigterm) {
                signals += 1
                if signals == 1 {
                    liveReload.close()
                    let open = running.withLockedValue { $0?.connectionCount } ?? 0
                    if !quiet {
                        let what = open == 0 ? "no connection open" : open == 1 ? "1 connection still open" : "\(open) connections still open"
                        print("Shutting down (\(signal)): \(what); waiting up to 10 s. Press Ctrl-C again to stop now.")
                        fflush(nil)
                    }
                } else {
                    if !quiet { print("Stopping now") }
                    fflush(nil)
                    Glibc.exit(130)
                }
            }
        }
    }

    /// On each SIGHUP, loads the certificate and key files again for new connections. A pair that cannot be
    /// used is logged and the current one kept.
    static func reloadOnHangUp(_ server: HTTPServer, quiet: Bool, logger: Logger) {
        Task {
            for await _ in await UnixSignalsSequence(trapping: .sighup) {
                do {
                    let warnings = try await server.reloadTLS()
                    for warning in warnings { logger.warning("\(warning)") }
                    if !quiet {
                        print("Reloaded the TLS certificate and key")
                        fflush(nil)
                    }
                } catch {
                    logger.error("TLS reload failed, the current certificate stays: \(error)")
                }
            }
        }
    }
}

/// `--metrics PATH`: the Prometheus text exposition at PATH (GET and HEAD), the site everywhere else.
struct MetricsEndpoint: HTTPResponder {
    let path: String
    let registry: PrometheusCollectorRegistry
    let next: any HTTPResponder

    func respond(to request: Request) async throws -> Response {
        guard request.path == path, request.method == .get || request.method == .head else {
            return try await next.respond(to: request)
        }
        var text: [UInt8] = []
        registry.emit(into: &text)
        return Response(
            headerFields: [.contentType: "text/plain; version=0.0.4; charset=utf-8", .cacheControl: "no-store"],
            body: ResponseBody(bytes: ByteBuffer(bytes: text))
        )
    }
}

/// The plain HTTP port of `--redirect-http`: every request gets 308 to the HTTPS port.
struct RedirectService: Service {
    /// A bind failure of this port, told apart from the HTTPS port's.
    struct ListenError: Error {
        let port: Int
        let underlying: any Error
    }

    let configuration: ServerConfiguration
    let httpsPort: NIOLockedValueBox<Int?>
    let defaultHost: String
    let logger: Logger
    let onStart: @Sendable (HTTPServer) -> Void

    func run() async throws {
        // The HTTPS service starts first; wait until it listens (or the group is cancelled).
        var port = httpsPort.withLockedValue { $0 }
        while port == nil {
            try await Task.sleep(for: .milliseconds(10))
            port = httpsPort.withLockedValue { $0 }
        }
        let service = HTTPService(
            configuration: configuration, responder: HTTPSRedirect(httpsPort: port!, defaultHost: defaultHost),
            gracePeriod: .seconds(2), logger: logger, onStart: onStart
        )
        do {
            try await service.run()
        } catch {
            throw ListenError(port: configuration.port, underlying: error)
        }
    }
}

extension HTTPMiddleware where Self == AccessLog {
    static var standardOutput: AccessLog { AccessLog.standardOutput }
}
