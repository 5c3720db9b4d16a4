/// The one error type of OffsiteJobs. Messages name the file and line, the variable or the cron
/// field at fault, and never contain the value of a secret (passwords, keys, tokens).
public struct JobsError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: Sendable, Equatable {
        /// A `.env` file is not `KEY=VALUE` lines (unterminated quote, bad name, …).
        case invalidEnvFile
        /// A cron expression or `@every` duration does not parse.
        case invalidSchedule
        /// The merged variables do not make valid settings; `problems` lists every mistake.
        case invalidSettings
        /// A file could not be read, or a program could not be started.
        case io
        /// The repository exists but cannot be opened or created (wrong password, unreachable storage).
        case repository
    }

    public var code: Code
    public var message: String
    /// For `.invalidSettings`: every mistake found, in variable order.
    public var problems: [SettingsProblem]

    public init(_ code: Code, _ message: String, problems: [SettingsProblem] = []) {
        self.code = code
        self.message = message
        self.problems = problems
    }

    public var description: String { message }
}

/// One mistake in the configuration: the variable, where it was set, and what is wrong with it.
public struct SettingsProblem: Sendable, Equatable, CustomStringConvertible {
    /// The variable at fault (`BACKUP_SCHEDULE`), or the missing one (`RESTIC_REPOSITORY`).
    public var variable: String
    /// Where the variable was set (`.env.production:12`, `environment`), if it was.
    public var origin: String?
    /// What is wrong and what to do; never contains a secret's value.
    public var message: String

    public init(variable: String, origin: String? = nil, message: String) {
        self.variable = variable
        self.origin = origin
        self.message = message
    }

    public var description: String {
        if let origin { return "\(origin): \(variable): \(message)" }
        return "\(variable): \(message)"
    }
}
