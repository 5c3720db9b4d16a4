import Foundation
import OffsiteCloud
import OffsiteEngine
import OffsiteStorage
import OffsiteSync

/// The one place that turns a repository location into a concrete backend (docs/ARCHITECTURE.md, section 1).
enum RepositoryOpener {
    static func backend(for location: String, _ g: GlobalOptions) throws -> any StorageBackend {
        for (flag, value) in [("--limit-upload", g.limitUpload), ("--limit-download", g.limitDownload)] {
            if let value, value <= 0 { throw CLIError.fatal("\(flag) must be a positive number of KiB/s") }
        }
        if location.hasPrefix("local:") || !CloudBackends.schemes.contains(where: location.hasPrefix) {
            for scheme in ["b2:", "azure:", "sftp:", "swift:", "rclone:"] where location.hasPrefix(scheme) {
                if scheme == "b2:" {
                    throw CLIError.fatal(
                        "offsite reaches Backblaze B2 through its S3 API: use s3:s3.REGION.backblazeb2.com/BUCKET with the key ID and application key in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
                    )
                }
                throw CLIError.fatal("the \(scheme.dropLast()) backend is not supported by offsite; use a local path, s3:, gs: or rest:")
            }
            let path = location.hasPrefix("local:") ? String(location.dropFirst("local:".count)) : location
            let local = LocalBackend(path: path)
            guard g.limitUpload != nil || g.limitDownload != nil else { return local }
            return RateLimitedBackend(
                local, upload: g.limitUpload.map { RateLimiter(kibPerSecond: $0) },
                download: g.limitDownload.map { RateLimiter(kibPerSecond: $0) })
        }
        var extended: [String: String] = [:]
        for option in g.options {
            guard let eq = option.firstIndex(of: "=") else {
                throw CLIError.fatal("invalid option \"\(option)\": use -o key=value, e.g. -o s3.connections=10")
            }
            extended[String(option[..<eq])] = String(option[option.index(after: eq)...])
        }
        if let text = g.stuckRequestTimeout {
            guard let seconds = DurationText.seconds(text), seconds > 0 else {
                throw CLIError.fatal("invalid --stuck-request-timeout \"\(text)\": use e.g. 30s or 5m")
            }
            extended[CloudBackends.stuckRequestTimeoutKey] = String(seconds)
        }
        if let kib = g.limitUpload { extended[CloudBackends.limitUploadKey] = String(kib) }
        if let kib = g.limitDownload { extended[CloudBackends.limitDownloadKey] = String(kib) }
        let roots = g.rootCertificateFiles
        if !roots.isEmpty { extended[CloudBackends.rootCertificatesKey] = roots.joined(separator: "\n") }
        if let file = g.clientCertificateFile { extended[CloudBackends.clientCertificateKey] = file }
        if g.insecureTLS {
            extended[CloudBackends.insecureTLSKey] = "true"
            Console.error(
                "WARNING: --insecure-tls: the server's TLS certificate is not verified, so anyone on the network path "
                    + "can read and change this connection (the repository's data stays encrypted and authenticated)")
        }
        do {
            guard let cloud = try CloudBackends.backend(for: location, environment: g.environment, options: extended) else {
                throw CLIError.fatal("unknown repository location \(CloudBackends.displayed(location))")
            }
            // Transient failures (timeouts, resets, 5xx, 429, SlowDown) are retried with backoff.
            return RetryingBackend(cloud) { Console.error($0) }
        } catch let e as StorageError {
            throw CLIError.fatal(e.message)
        }
    }

    /// How a command locks the repository.
    enum Locking {
        /// No lock (`init`, `unlock`, `list locks`).
        case none
        /// A shared lock unless `--no-lock` is given (commands that only read).
        case sharedUnlessNoLock
        /// A shared lock always (backup, restore).
        case shared
        /// An exclusive lock always (tag, forget, prune, check, key remove).
        case exclusive
    }

    /// Opens the repository named by the global options, locks it as the command needs (the
    /// lock is released when the command ends, see `runCommand`), and loads its index.
    ///
    /// `other` opens a second repository (copy's source or destination) with the global
    /// options' locking flags but its own location, password and key hint.
    static func open(
        _ g: GlobalOptions, loadIndex: Bool = true, lock: Locking = .sharedUnlessNoLock, other: OtherRepository? = nil
    ) async throws -> Repository {
        let location = try other?.location ?? g.repositoryLocation()
        let backend = try backend(for: location, g)
        // Fail fast on a missing repository before asking for a password.
        if !(try await backend.exists(.config)) {
            throw EngineError(
                .repositoryNotFound,
                "unable to open config file: \(backend.location)/config does not exist. Is there a repository at the following location?\n\(CloudBackends.displayed(location))"
            )
        }
        let password: String
        if let given = other?.password { password = given } else { password = try await Password.resolve(g) }
        let repo = try await Repository.open(
            backend: backend, password: password,
            keyHint: other != nil ? other?.keyHint : g.keyHint ?? g.environment["RESTIC_KEY_HINT"])
        let kind: RepositoryLock.Kind? =
            switch lock {
            case .none: nil
            case .sharedUnlessNoLock: g.noLock ? nil : .shared
            case .shared: .shared
            case .exclusive: .exclusive
            }
        if let kind {
            var options = RepositoryLock.Options()
            if let text = g.retryLock {
                guard let seconds = DurationText.seconds(text) else {
                    throw CLIError.fatal("invalid --retry-lock duration \"\(text)\": use e.g. 30s, 5m or 1h")
                }
                options.retryFor = .seconds(seconds)
            }
            options.onNotice = { Console.error($0) }
            // The index loads while the lock settles (restic waits 200 ms before checking for
            // other locks again); nothing is written before the lock is confirmed. An attempt
            // that loses the race (--retry-lock) loads it again from scratch in the next one:
            // the winner may have been a prune that removed packs.
            if loadIndex {
                options.whileSettling = {
                    repo.index.removeAll()
                    try await repo.loadIndex()
                }
            }
            HeldLocks.add(try await RepositoryLock.acquire(repo, kind, options: options))
            return repo
        }
        if loadIndex { try await repo.loadIndex() }
        return repo
    }
}

/// The locks the running command holds; `runCommand` releases them however the command ends.
enum HeldLocks {
    private static let locks = Mutex<[RepositoryLock]>([])

    static func add(_ lock: RepositoryLock) { locks.withLock { $0.append(lock) } }

    static func releaseAll() async {
        let held = locks.withLock { l -> [RepositoryLock] in
            defer { l = [] }
            return l
        }
        for lock in held { await lock.release() }
    }
}

/// Go-style durations as `--retry-lock` takes them: `90s`, `5m`, `1h30m`, `2h`, `1.5h`.
enum DurationText {
    static func seconds(_ text: String) -> Double? {
        var total = 0.0
        var number = ""
        var sawUnit = false
        let chars = Array(text)
        if chars.isEmpty { return nil }
        if text == "0" { return 0 }
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if c.isNumber || c == "." {
                number.append(c)
                i += 1
                continue
            }
            guard let value = Double(number) else { return nil }
            var unit = String(c)
            if c == "m" && i + 1 < chars.count && chars[i + 1] == "s" {
                unit = "ms"
                i += 1
            }
            switch unit {
            case "h": total += value * 3600
            case "m": total += value * 60
            case "s": total += value
            case "ms": total += value / 1000
            default: return nil
            }
            number = ""
            sawUnit = true
            i += 1
        }
        return number.isEmpty && sawUnit ? total : nil
    }
}
