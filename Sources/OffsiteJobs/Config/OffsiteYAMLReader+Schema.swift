import Foundation
import Yams

/// The schema of `offsite.yml` (docs in README, Configuration): the top-level keys, each
/// repository and each job, read with the node helpers of `OffsiteYAMLReader`.
extension OffsiteYAMLReader {
    mutating func read(_ text: String, environment: [String: String]) -> Configuration? {
        guard let root = compose(text) else {
            if problems.isEmpty { report("repositories", origin: path, "the file is empty; it needs repositories: and jobs:") }
            return nil
        }
        guard let top = entries(root, "", of: "settings (repositories:, jobs:, …)") else { return nil }
        checkKeys(top, "", allowed: Self.topKeys)
        let f = Self.index(top)

        var timeZone = TimeZone.current
        if let name = string(f["timezone"], "timezone") {
            if let zone = TimeZone(identifier: name) {
                timeZone = zone
            } else {
                report("timezone", f["timezone"]?.value, "\"\(name)\" is not a time zone name such as Europe/Paris or UTC")
            }
        } else if var name = environment["TZ"]?.trimmingCharacters(in: .whitespaces), !name.isEmpty {
            if name.hasPrefix(":") { name.removeFirst() }
            if let zone = TimeZone(identifier: name) {
                timeZone = zone
            } else {
                report("TZ", origin: "environment", "\"\(name)\" is not a time zone name such as Europe/Paris or UTC")
            }
        }

        let host = string(f["host"], "host")
        if let host, host.contains(where: { $0.isWhitespace }) {
            report("host", f["host"]?.value, "\"\(host)\" contains a blank; use the host name snapshots should record")
        }

        var pushgateway: URL?
        if let text = string(f["pushgateway"], "pushgateway") {
            if let url = URL(string: text), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
                let host = url.host, !host.isEmpty
            {
                pushgateway = url
            } else {
                // It may carry credentials: describe the mistake without the value.
                report("pushgateway", f["pushgateway"]?.value, "is not an http(s) URL such as http://prometheus:9091")
            }
        }
        let textfile = absolutePath(f["textfile"], "textfile")
        let listen = string(f["listen"], "listen")
        if let listen {
            let port = listen.lastIndex(of: ":").map { Int(listen[listen.index(after: $0)...]) } ?? nil
            if port.map({ !(1...65535).contains($0) }) ?? true {
                report("listen", f["listen"]?.value, "\"\(listen)\" is not host:port such as 127.0.0.1:9190")
            }
        }
        let drillSchedule = schedule(f["drill_schedule"], "drill_schedule", default: "off", canDisable: true)

        // Repositories: every declared name counts for references, even one with mistakes (its own
        // problems are reported; its jobs should not add "unknown repository").
        var repositories: [RepositoryTarget] = []
        var repositoryNames: [String] = []
        if let entry = f["repositories"] {
            if let list = entries(entry.value, "repositories", of: "repository names to their settings") {
                if list.isEmpty { report("repositories", entry.value, "is empty; name at least one repository") }
                for item in list {
                    repositoryNames.append(item.name)
                    if let target = repository(item) { repositories.append(target) }
                }
            }
        } else {
            report("repositories", root, "missing; name at least one (repositories: {prod: {repository: …, password_file: …}})")
        }

        var jobs: [JobDefinition] = []
        if let entry = f["jobs"] {
            if let list = entries(entry.value, "jobs", of: "job names to their settings") {
                if list.isEmpty { report("jobs", entry.value, "is empty; define at least one job") }
                let names = Set(list.map(\.name))
                for item in list {
                    if let job = job(item, repositories: repositoryNames, jobNames: names) { jobs.append(job) }
                }
            }
        } else {
            report("jobs", root, "missing; define at least one (jobs: {app-db: {type: postgres, …}})")
        }

        guard problems.isEmpty else { return nil }
        return Configuration(
            repositories: repositories, jobs: jobs, pushgateway: pushgateway, textfile: textfile, listen: listen,
            host: host ?? Configuration.systemHostName(), timeZone: timeZone, drillSchedule: drillSchedule,
            environment: environment)
    }

    mutating func repository(_ item: Entry) -> RepositoryTarget? {
        let keyPath = "repositories.\(item.name)"
        let before = problems.count
        if let problem = Self.tagProblem(item.name) { report(keyPath, item.key, "the repository name \(problem)") }
        guard let fields = entries(item.value, keyPath, of: "repository settings (repository:, password_file:, …)") else {
            return nil
        }
        checkKeys(fields, keyPath, allowed: Self.repositoryKeys)
        let f = Self.index(fields)
        func key(_ name: String) -> String { "\(keyPath).\(name)" }

        var location: JobSettings.RepositorySource?
        let url = string(f["repository"], key("repository"))
        let file = absolutePath(f["repository_file"], key("repository_file"), quote: false)
        if f["repository"] != nil && f["repository_file"] != nil {
            report(key("repository_file"), f["repository_file"]?.key, "repository and repository_file are mutually exclusive; keep one")
        } else if let url {
            location = .url(Secret(url))
        } else if let file {
            location = .file(file)
        } else if f["repository"] == nil && f["repository_file"] == nil {
            report(key("repository"), item.key, "missing; set repository (s3:…, gs:…, rest:…, or a path) or repository_file")
        } else if let given = f["repository"] ?? f["repository_file"], Self.isNull(given.value) {
            report(key(given.name), given.value, "is empty")
        }

        var password: JobSettings.PasswordSource?
        let sources = ["password_command", "password_file", "password"].filter { f[$0] != nil }
        if sources.count > 1 {
            report(key(sources[1]), f[sources[1]]?.key, "\(sources.joined(separator: " and ")) are mutually exclusive; keep one")
        } else if let source = sources.first, let entry = f[source] {
            switch source {
            case "password_command":
                if let command = string(entry, key(source)) { password = .command(command) }
            case "password_file":
                if let file = absolutePath(entry, key(source), quote: false) { password = .file(file) }
            default:
                if let value = string(entry, key(source), trim: false) { password = .value(Secret(value)) }
            }
            if password == nil, Self.isNull(entry.value) { report(key(source), entry.value, "is empty") }
        } else {
            report(key("password_file"), item.key, "missing; set password_file, password_command or password")
        }

        var environment: [String: String] = [:]
        if let entry = f["env"], !Self.isNull(entry.value),
            let variables = entries(entry.value, key("env"), of: "variable names to values")
        {
            for variable in variables {
                let name = key("env.\(variable.name)")
                if !Self.isVariableName(variable.name) {
                    report(name, variable.key, "is not a variable name (letters, digits and _, not starting with a digit)")
                } else if RepositoryTarget.locationVariables.contains(variable.name) {
                    report(name, variable.key, "set the repository and its password with this repository's own keys, not env")
                }
                // Values may be credentials: never quoted.
                guard case .scalar(let scalar) = variable.value else {
                    report(name, variable.value, "must be a single value, not \(Self.describe(variable.value))")
                    continue
                }
                environment[variable.name] = Self.isNull(variable.value) ? "" : scalar.string
            }
        }

        let prune = schedule(f["prune"], key("prune"), default: JobSettings.defaultPruneSchedule, canDisable: true)
        let check = schedule(f["check"], key("check"), default: JobSettings.defaultCheckSchedule, canDisable: true)
        let rotation =
            int(f["check_rotation"], key("check_rotation"), in: 1...Int.max, what: "a whole number of at least 1")
            ?? JobSettings.defaultCheckRotation

        guard problems.count == before, let location, let password else { return nil }
        return RepositoryTarget(
            name: item.name, location: location, password: password, environment: environment, pruneSchedule: prune,
            checkSchedule: check, checkRotation: rotation)
    }

    mutating func job(_ item: Entry, repositories: [String], jobNames: Set<String>) -> JobDefinition? {
        let keyPath = "jobs.\(item.name)"
        let before = problems.count
        if let problem = Self.tagProblem(item.name) {
            report(keyPath, item.key, "the job name is also its snapshots' tag and \(problem)")
        }
        guard let fields = entries(item.value, keyPath, of: "job settings (type:, schedule:, …)") else { return nil }
        let f = Self.index(fields)
        func key(_ name: String) -> String { "\(keyPath).\(name)" }

        var kind: JobDefinition.Kind?
        if let text = string(f["type"], key("type")) {
            kind = JobDefinition.Kind(rawValue: text.lowercased())
            if kind == nil {
                var message = "\"\(text)\" is not a job type; use postgres, redis or volumes"
                if let suggestion = Self.nearest(text, in: JobDefinition.Kind.allCases.map(\.rawValue)) {
                    message = "\"\(text)\" is not a job type; did you mean \(suggestion)?"
                }
                report(key("type"), f["type"]?.value, message)
            }
        } else if f["type"] == nil {
            report(key("type"), item.key, "missing; set type: postgres, redis or volumes")
        } else if case .scalar = f["type"]?.value {
            report(key("type"), f["type"]?.value, "is empty; set postgres, redis or volumes")
        }
        let allKindKeys = JobDefinition.Kind.allCases.flatMap { Self.kindKeys[$0] ?? [] }
        if let kind {
            let own = Self.kindKeys[kind] ?? []
            checkKeys(fields, keyPath, allowed: Self.jobKeys + own) { name in
                guard allKindKeys.contains(name) else { return nil }
                let owners = JobDefinition.Kind.allCases.filter { Self.kindKeys[$0]?.contains(name) ?? false }
                return "is a setting of \(owners.map(\.rawValue).joined(separator: " and ")) jobs, not of \(kind.rawValue) ones"
            }
        } else {
            checkKeys(fields, keyPath, allowed: Self.jobKeys + Set(allKindKeys).sorted())
        }

        var repository: String?
        if let name = string(f["repository"], key("repository")) {
            if repositories.contains(name) {
                repository = name
            } else {
                var message = "no repository is named \(name)"
                if let suggestion = Self.nearest(name, in: repositories) {
                    message += "; did you mean \(suggestion)?"
                } else if !repositories.isEmpty {
                    message += " (repositories: \(repositories.joined(separator: ", ")))"
                }
                report(key("repository"), f["repository"]?.value, message)
            }
        } else if repositories.count == 1 {
            repository = repositories[0]
        } else if repositories.count > 1 {
            report(
                key("repository"), f["repository"]?.value ?? item.key,
                "missing; with several repositories, name one of \(repositories.joined(separator: ", "))")
        }

        let schedule = schedule(f["schedule"], key("schedule"), default: JobSettings.defaultBackupSchedule, canDisable: false)

        var preset = JobSettings.Environment.production
        if let text = string(f["env"], key("env")) {
            switch text.lowercased() {
            case "production", "prod": preset = .production
            case "staging", "stage": preset = .staging
            case "dev", "development": preset = .dev
            default: report(key("env"), f["env"]?.value, "\"\(text)\" is not production, staging or dev")
            }
        }
        var retention = preset.retention
        if let entry = f["retention"], !Self.isNull(entry.value),
            let parts = entries(entry.value, key("retention"), of: "daily:, weekly:, monthly: counts")
        {
            checkKeys(parts, key("retention"), allowed: Self.retentionKeys)
            let p = Self.index(parts)
            let what = "a whole number of snapshots (0 or more)"
            if let n = int(p["daily"], key("retention.daily"), in: 0...Int.max, what: what) { retention.daily = n }
            if let n = int(p["weekly"], key("retention.weekly"), in: 0...Int.max, what: what) { retention.weekly = n }
            if let n = int(p["monthly"], key("retention.monthly"), in: 0...Int.max, what: what) { retention.monthly = n }
        }

        // `forget` selects a job's snapshots by its name: another job tagged with it would share its retention.
        let tags = stringList(f["tags"], key("tags"), what: "tags") { tag in
            if let problem = Self.tagProblem(tag) { return "the tag \"\(tag)\" \(problem)" }
            if tag != item.name && jobNames.contains(tag) {
                return "\(tag) is also a job's name: forget would select that job's snapshots too; use another tag"
            }
            return nil
        }

        var job = JobDefinition(
            name: item.name, kind: kind ?? .volumes, repository: repository ?? "", schedule: schedule ?? .placeholder,
            retention: retention, extraTags: tags ?? [])
        switch kind {
        case .postgres:
            job.postgres = PostgresSettings(
                host: string(f["host"], key("host")),
                port: int(f["port"], key("port"), in: 1...65535, what: "a port number 1-65535"),
                user: string(f["user"], key("user")),
                password: jobPassword(f, keyPath),
                passwordFile: absolutePath(f["password_file"], key("password_file"), quote: false))
            let databases = f["databases"]
            if let databases, case .scalar = databases.value, string(databases, key("databases"))?.lowercased() == "all" {
                job.databases = []
            } else {
                job.databases =
                    stringList(databases, key("databases"), what: "database names") { name in
                        name.contains(where: { $0.isWhitespace }) ? "\"\(name)\" is not a database name" : nil
                    } ?? []
            }
        case .redis:
            job.redis = RedisSettings(
                host: string(f["host"], key("host")) ?? "127.0.0.1",
                port: int(f["port"], key("port"), in: 1...65535, what: "a port number 1-65535") ?? 6379,
                password: jobPassword(f, keyPath),
                passwordFile: absolutePath(f["password_file"], key("password_file"), quote: false))
        case .volumes:
            let paths = stringList(f["paths"], key("paths"), what: "absolute paths") { path in
                path.hasPrefix("/") ? nil : "\"\(path)\" is not an absolute path; write it from /"
            }
            if f["paths"] == nil {
                report(key("paths"), item.key, "missing; list the directories to back up (paths: [/srv/app])")
            } else if let paths, paths.isEmpty {
                report(key("paths"), f["paths"]?.value, "is empty; list the directories to back up")
            }
            job.paths = paths ?? []
        case nil:
            break
        }

        guard problems.count == before, kind != nil, repository != nil, schedule != nil else { return nil }
        return job
    }

    /// A postgres or redis job's `password:`, never quoted; exclusive with `password_file:` (read when the job runs).
    mutating func jobPassword(_ f: [String: Entry], _ keyPath: String) -> Secret? {
        if f["password"] != nil && f["password_file"] != nil {
            report("\(keyPath).password_file", f["password_file"]?.key, "password and password_file are mutually exclusive; keep one")
        }
        return string(f["password"], "\(keyPath).password", trim: false).map(Secret.init)
    }

    /// A list of single values; nil if absent, or (reported) if not a list. `check` describes a bad item.
    mutating func stringList(_ entry: Entry?, _ keyPath: String, what: String, check: (String) -> String?) -> [String]? {
        guard let entry, !Self.isNull(entry.value) else { return entry == nil ? nil : [] }
        guard case .sequence(let sequence) = entry.value else {
            report(keyPath, entry.value, "must be a list of \(what) ([a, b]), not \(Self.describe(entry.value))")
            return nil
        }
        var result: [String] = []
        for node in sequence {
            guard case .scalar(let scalar) = node, !Self.isNull(node) else {
                report(keyPath, node, "each item must be a single value, not \(Self.describe(node))")
                continue
            }
            let text = scalar.string.trimmingCharacters(in: .whitespaces)
            if let problem = check(text) {
                report(keyPath, node, problem)
            } else {
                result.append(text)
            }
        }
        return result
    }
}

extension CronSchedule {
    /// Stands for a schedule that did not parse while the rest of a job is checked; never returned.
    fileprivate static let placeholder = try! CronSchedule(parsing: "@daily")
}
