import ArgumentParser
import Foundation

/// The global flags of restic, accepted by every command (before or after the command name).
struct GlobalOptions: ParsableArguments {
    @Option(
        name: [.short, .customLong("repo")],
        help: ArgumentHelp("Repository to back up to or restore from (default: $RESTIC_REPOSITORY).", valueName: "repository"))
    var repo: String?

    @Option(
        name: .customLong("repository-file"),
        help: ArgumentHelp("File to read the repository location from (default: $RESTIC_REPOSITORY_FILE).", valueName: "file"))
    var repositoryFile: String?

    @Option(
        name: .customLong("password-file"),
        help: ArgumentHelp("File to read the repository password from (default: $RESTIC_PASSWORD_FILE).", valueName: "file"))
    var passwordFile: String?

    @Option(
        name: .customLong("password-command"),
        help: ArgumentHelp("Shell command that prints the password (default: $RESTIC_PASSWORD_COMMAND).", valueName: "command"))
    var passwordCommand: String?

    @Option(name: .customLong("key-hint"), help: ArgumentHelp("Key ID to try first (default: $RESTIC_KEY_HINT).", valueName: "key"))
    var keyHint: String?

    @Flag(name: [.short, .long], help: "Do not print progress or informational messages.")
    var quiet = false

    @Flag(name: [.short, .long], help: "Print more (repeat for even more).")
    var verbose: Int

    @Flag(name: .long, help: "Print machine-readable JSON instead of text.")
    var json = false

    @Option(
        name: .long,
        help: ArgumentHelp("Compression: auto, off, max, fastest or better (default: $RESTIC_COMPRESSION or auto).", valueName: "mode"))
    var compression: String?

    @Option(
        name: .customLong("pack-size"),
        help: ArgumentHelp("Target pack size in MiB, 4 to 128 (default: $RESTIC_PACK_SIZE or 16).", valueName: "MiB"))
    var packSize: Int?

    @Flag(name: .customLong("no-cache"), help: "Accepted for restic compatibility (offsite keeps no local cache yet).")
    var noCache = false

    @Flag(
        name: .customLong("no-lock"),
        help: "Do not lock the repository (read-only commands only; backup, restore and maintenance always lock).")
    var noLock = false

    @Option(
        name: .customLong("retry-lock"),
        help: ArgumentHelp(
            "Keep trying to lock the repository this long if it is locked, e.g. 30s, 5m, 1h (default: fail at once).", valueName: "duration"
        ))
    var retryLock: String?

    @Option(
        name: .customLong("stuck-request-timeout"),
        help: ArgumentHelp(
            "Cancel and retry a cloud request that makes no progress for this long, e.g. 30s, 5m (default: 5m).", valueName: "duration"))
    var stuckRequestTimeout: String?

    @Option(
        name: .customLong("limit-upload"), help: ArgumentHelp("Limit uploads to this many KiB/s (default: unlimited).", valueName: "KiB/s"))
    var limitUpload: Int?

    @Option(
        name: .customLong("limit-download"),
        help: ArgumentHelp("Limit downloads to this many KiB/s (default: unlimited).", valueName: "KiB/s"))
    var limitDownload: Int?

    @Option(name: .customLong("cache-dir"), help: ArgumentHelp("Accepted for restic compatibility.", valueName: "dir"))
    var cacheDir: String?

    @Option(
        name: .customLong("cacert"),
        help: ArgumentHelp(
            "Trust only the root certificates in this PEM file for S3, GCS and REST servers (repeatable; default: the system's; $RESTIC_CACERT).",
            valueName: "file"))
    var cacert: [String] = []

    @Option(
        name: .customLong("tls-client-cert"),
        help: ArgumentHelp(
            "Present the client certificate and private key in this PEM file to the server ($RESTIC_TLS_CLIENT_CERT).", valueName: "file"))
    var tlsClientCert: String?

    @Flag(
        name: .customLong("insecure-tls"),
        help: "Do not verify the server's certificate (insecure: anyone on the path can read and change the traffic).")
    var insecureTLS = false

    @Option(
        name: [.short, .customLong("option")],
        help: ArgumentHelp(
            "Extended backend option key=value: s3.connections, s3.region, s3.bucket-lookup, s3.storage-class.", valueName: "key=value"))
    var options: [String] = []

    var environment: [String: String] { ProcessInfo.processInfo.environment }

    /// The repository location from -r, --repository-file or the environment.
    func repositoryLocation() throws -> String {
        if let repo, !repo.isEmpty { return repo }
        let env = environment
        if let file = repositoryFile ?? env["RESTIC_REPOSITORY_FILE"], !file.isEmpty {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw CLIError.fatal("cannot read repository file \(file)")
            }
            return text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        if let r = env["RESTIC_REPOSITORY"], !r.isEmpty { return r }
        throw CLIError.fatal("Please specify repository location (-r or --repository-file, or set RESTIC_REPOSITORY)")
    }

    /// `--cacert` files (each value may list several, separated by commas, as restic's flag
    /// does), else `$RESTIC_CACERT`'s.
    var rootCertificateFiles: [String] {
        let given = cacert.isEmpty ? [environment["RESTIC_CACERT"] ?? ""] : cacert
        return given.flatMap { $0.split(separator: ",").map(String.init) }
    }

    /// `--tls-client-cert`, else `$RESTIC_TLS_CLIENT_CERT`.
    var clientCertificateFile: String? {
        if let tlsClientCert { return tlsClientCert }
        return environment["RESTIC_TLS_CLIENT_CERT"].flatMap { $0.isEmpty ? nil : $0 }
    }

    func compressionLevel() throws -> CompressionChoice {
        let value = compression ?? environment["RESTIC_COMPRESSION"] ?? "auto"
        guard let level = CompressionChoice(rawValue: value.lowercased()) else {
            throw CLIError.fatal("invalid compression mode \"\(value)\": use auto, off, max, fastest or better")
        }
        return level
    }

    func packSizeBytes() throws -> Int {
        var mib = packSize
        if mib == nil, let env = environment["RESTIC_PACK_SIZE"] {
            guard let v = Int(env) else { throw CLIError.fatal("RESTIC_PACK_SIZE=\(env) is not a number") }
            mib = v
        }
        let value = mib ?? 16
        guard (4...128).contains(value) else { throw CLIError.fatal("pack size \(value) MiB is out of range (4 to 128)") }
        return value << 20
    }
}

enum CompressionChoice: String {
    case auto, off, max, fastest, better
}
