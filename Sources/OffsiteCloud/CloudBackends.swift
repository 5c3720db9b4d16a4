public import OffsiteStorage

/// Turns restic's cloud repository locations into backends: `s3:…`, `gs:BUCKET:/prefix` and
/// `rest:http://…`. Credentials come from `environment` (restic's variables: `AWS_*`,
/// `GOOGLE_*`), extended options from `-o key=value` (`s3.connections`, `s3.region`, …).
public enum CloudBackends {
    /// The schemes handled here.
    public static let schemes = ["s3:", "gs:", "rest:"]

    /// `location` as it may be shown: a password in a `rest:` URL becomes `***` (restic's
    /// `StripPassword`).
    public static func displayed(_ location: String) -> String {
        RESTConfig.strippingPassword(location)
    }

    /// The backend for `location`, or nil when it is not a cloud location.
    public static func backend(
        for location: String, environment: [String: String], options: [String: String]
    ) throws -> (any StorageBackend)? {
        if location.hasPrefix("s3:") { return try S3Backend.make(location: location, environment: environment, options: options) }
        if location.hasPrefix("gs:") { return try GCSBackend.make(location: location, environment: environment, options: options) }
        if location.hasPrefix("rest:") { return try RESTBackend.make(location: location, environment: environment, options: options) }
        return nil
    }

    /// The option keys under which the command line passes `--stuck-request-timeout`
    /// (seconds), `--limit-upload` and `--limit-download` (KiB/s).
    public static let stuckRequestTimeoutKey = "stuck-request-timeout"
    public static let limitUploadKey = "limit-upload"
    public static let limitDownloadKey = "limit-download"
    /// The option keys for `--cacert` (files separated by newlines), `--tls-client-cert` and
    /// `--insecure-tls` ("true").
    public static let rootCertificatesKey = "cacert"
    public static let clientCertificateKey = "tls-client-cert"
    public static let insecureTLSKey = "insecure-tls"

    /// The transport for a backend: `connections` per host, and the stuck-request timeout
    /// from the options.
    static func transport(connections: Int, options: [String: String]) throws -> HTTPTransport {
        var t = HTTPTransport.Options()
        t.connections = connections
        if let text = options[stuckRequestTimeoutKey] {
            guard let seconds = Double(text), seconds > 0 else {
                throw StorageError(.io, "invalid stuck-request timeout \(text)")
            }
            t.stuckTimeout = .milliseconds(Int64(seconds * 1000))
        }
        t.uploadKiB = try options[limitUploadKey].map { _ in try intOption(options, limitUploadKey, default: 0) }
        t.downloadKiB = try options[limitDownloadKey].map { _ in try intOption(options, limitDownloadKey, default: 0) }
        t.rootCertificateFiles = options[rootCertificatesKey].map { $0.split(separator: "\n").map(String.init) } ?? []
        t.clientCertificateFile = options[clientCertificateKey]
        t.insecureTLS = options[insecureTLSKey] == "true"
        return try HTTPTransport.shared(t)
    }

    /// An integer option such as `s3.connections=10`.
    static func intOption(_ options: [String: String], _ key: String, default value: Int) throws -> Int {
        guard let text = options[key] else { return value }
        guard let n = Int(text), n > 0 else {
            throw StorageError(.io, "invalid option -o \(key)=\(text): a positive number is expected")
        }
        return n
    }
}
