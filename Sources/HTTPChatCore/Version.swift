/// The library's version.
public enum HTTPChatVersion {
    /// The version string, for example in `Server` fields and `--version` output.
    public static let string = "0.1.0"
}
