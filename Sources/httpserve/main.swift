// httpserve: the static file server built on HTTPChat. It grows in the static-files work; for now it only
// reports its version.
import HTTPChat

if CommandLine.arguments.dropFirst().contains(where: { $0 == "--version" || $0 == "-V" }) {
    print("httpserve \(HTTPChatVersion.string)")
} else {
    print("httpserve \(HTTPChatVersion.string): static serving is not built yet; try --version")
}
