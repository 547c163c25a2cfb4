import HTTPChat

func httpsSnippet(router: Router) async throws -> HTTPServer {
    // snippet: https
    var configuration = ServerConfiguration(host: "0.0.0.0", port: 8443)
    configuration.tls = TLSSettings(certificateChainFile: "cert.pem", privateKeyFile: "key.pem")
    // Mutual TLS: clientCertificateAuthorityFile: "clients-ca.pem" in the same initializer.
    let server = try await HTTPServer.start(
        configuration: configuration,
        responder: try router.build().wrapped(in: [StrictTransportSecurity(maxAge: 31_536_000)])
    )
    try await server.reloadTLS()   // after renewing the files: new handshakes use the new pair
    // end snippet
    return server
}
