import Foundation

extension Configuration {
    /// Reads an `offsite.yml`: several repositories and several jobs.
    ///
    /// ```yaml
    /// timezone: Europe/Paris                  # default: TZ, else the system's zone
    /// host: web1                              # snapshots' host (default: the system's host name)
    /// pushgateway: http://prometheus:9091     # optional
    /// textfile: /var/lib/node_exporter/textfile/offsite.prom   # optional, absolute
    /// listen: 127.0.0.1:9190                  # optional: the daemon's /metrics and /healthz
    /// drill_schedule: "0 6 * * 1"             # optional (default: no drills)
    /// repositories:                           # at least one
    ///   prod:
    ///     repository: s3:s3.amazonaws.com/bucket     # or repository_file: /absolute/path (one of them)
    ///     password_file: /run/secrets/restic         # or password_command: … or password: … (one of them)
    ///     env: {AWS_ACCESS_KEY_ID: …, AWS_SECRET_ACCESS_KEY: …}   # only this repository's commands get them
    ///     prune: "0 3 * * 0"                  # default 0 3 * * 0; off disables
    ///     check: "0 5 * * 0"                  # default 0 5 * * 0; off disables
    ///     check_rotation: 10                  # default 10 (each check reads 1/n of the packs)
    /// jobs:                                   # at least one; the name is also the snapshots' tag
    ///   app-db:
    ///     type: postgres                      # postgres | redis | volumes (required)
    ///     repository: prod                    # optional when there is exactly one repository
    ///     schedule: "0 */6 * * *"             # default 0 */6 * * *
    ///     env: production                     # retention preset: production | staging | dev
    ///     retention: {daily: 30, weekly: 12, monthly: 12}   # each key overrides the preset's
    ///     tags: [extra]                       # besides the name and backup-date-YYYYMMDD
    ///     host: db                            # postgres: host, port, user, password or password_file,
    ///     databases: [app, auth]              #   databases (omitted, [] or all: pg_dumpall)
    ///   cache:                                # redis: host (127.0.0.1), port (6379), password or password_file
    ///     type: redis
    ///   files:                                # volumes: paths (required, absolute)
    ///     type: volumes
    ///     paths: [/srv/app, /vault/data]
    /// ```
    ///
    /// Rules: keys are exactly those above (an unknown one is reported with the nearest known key);
    /// job, repository and tag names are restic tags (no commas, no blanks); paths are absolute;
    /// `repository`/`repository_file` and the password keys are mutually exclusive; `env:` names are
    /// variable names and may not be restic's repository or password variables; a null value (`host: ~`)
    /// means unset. No secret is read at load time: `password_file` and `repository_file` are kept as
    /// paths for the commands to read.
    ///
    /// `environment` is the process environment: it becomes `Configuration.environment` and supplies
    /// `TZ` when `timezone` is absent.
    ///
    /// - Parameter path: names the file in messages (`offsite.yml:12`).
    /// - Throws: `JobsError.Code.invalidSettings` whose `problems` name every mistake at once, each with
    ///   `path:line`, the key (`jobs.app-db.schedule`) and what to do. No message quotes a password,
    ///   a repository location or an `env:` value.
    public static func load(yaml text: String, path: String, environment: [String: String]) throws(JobsError) -> Configuration {
        var reader = OffsiteYAMLReader(path: path)
        let configuration = reader.read(text, environment: environment)
        guard reader.problems.isEmpty, let configuration else {
            let problems = reader.problems
            let list = problems.map { "  - \($0)" }.joined(separator: "\n")
            throw JobsError(
                .invalidSettings, "\(path) has \(problems.count) mistake\(problems.count == 1 ? "" : "s"):\n\(list)",
                problems: problems)
        }
        return configuration
    }

    /// Reads and parses the `offsite.yml` at `path` (see `load(yaml:path:environment:)`).
    /// - Throws: `JobsError` `.io` if the file cannot be read, `.invalidSettings` listing every mistake.
    public static func load(path: String, environment: [String: String]) throws(JobsError) -> Configuration {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw JobsError(
                .io, "\(path): cannot read the configuration (\(error.localizedDescription)); check the path and its permissions")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw JobsError(
                .invalidSettings, "\(path) is not UTF-8 text",
                problems: [SettingsProblem(variable: "file", origin: path, message: "is not UTF-8 text")])
        }
        return try load(yaml: text, path: path, environment: environment)
    }
}
