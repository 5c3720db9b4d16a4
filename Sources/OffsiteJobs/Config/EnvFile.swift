import Foundation

/// A `.env` file as docker-compose's `env_file`, systemd's `EnvironmentFile` and shell users write it.
///
/// Syntax, one assignment per line:
/// - blank lines and lines starting with `#` are ignored; `export KEY=VALUE` is accepted;
/// - `KEY` is `[A-Za-z_][A-Za-z0-9_]*`, with optional blanks around `=`;
/// - an unquoted value runs to the end of the line, keeps inner spaces and `=`
///   (`BACKUP_SCHEDULE=0 */6 * * *`), loses its trailing blanks, and ends at ` #` (a `#` after a
///   blank starts a comment: `AWS_DEFAULT_REGION=eu-west-1  # ou us-east-1`; `pa#ss` keeps its `#`);
/// - `'single quotes'` are literal; `"double quotes"` understand `\n`, `\t`, `\r`, `\"`, `\\` and
///   `\$` (other backslashes are kept); quoted values may span lines and may be followed by a comment;
/// - a later assignment of a key overrides an earlier one.
///
/// No `${VAR}` interpolation: systemd does none, and values such as passwords must survive as written.
public struct EnvFile: Sendable, Equatable {
    /// One `KEY=VALUE` assignment and the line it starts on (1-based).
    public struct Entry: Sendable, Equatable {
        public var key: String
        public var value: String
        public var line: Int
    }

    /// The file's path as given, used in messages.
    public var path: String
    /// Every assignment, in file order (duplicates included).
    public var entries: [Entry]

    /// The variables, later assignments overriding earlier ones.
    public var variables: [String: String] {
        var result: [String: String] = [:]
        for entry in entries { result[entry.key] = entry.value }
        return result
    }

    /// Reads and parses the file at `path`.
    /// - Throws: `JobsError` `.io` if it cannot be read, `.invalidEnvFile` naming the line at fault.
    public static func load(path: String) throws(JobsError) -> EnvFile {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw JobsError(.io, "\(path): cannot read the env file (\(error.localizedDescription)); check the path and its permissions")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw JobsError(.invalidEnvFile, "\(path): the env file is not UTF-8 text")
        }
        return try parse(text, path: path)
    }

    /// Parses `text`; `path` only names the file in messages.
    /// - Throws: `JobsError.Code.invalidEnvFile` naming `path:line`; never quotes a value.
    public static func parse(_ text: String, path: String) throws(JobsError) -> EnvFile {
        var parser = EnvFileParser(text: text, path: path)
        return EnvFile(path: path, entries: try parser.parse())
    }
}

/// Where each merged variable came from, for messages.
public struct EnvironmentVariables: Sendable, Equatable {
    public var values: [String: String]
    /// `path:line` for a file's variable, `environment` for the process environment's.
    public var origins: [String: String]

    public init(values: [String: String], origins: [String: String] = [:]) {
        self.values = values
        self.origins = origins
    }

    public subscript(key: String) -> String? { values[key] }

    /// Merges env files and the process environment.
    ///
    /// Precedence, lowest first: `files` in order (a later file overrides an earlier one), then
    /// `environment`. The process environment wins, as with docker compose (`environment:` and the
    /// shell override `env_file`/`.env`) and dotenv tools: `RESTIC_PASSWORD=… offsite …` overrides one
    /// value for one run without editing the file. Under systemd, `Environment=` and
    /// `EnvironmentFile=` both arrive as the process environment, so their own order applies.
    public static func merge(files: [EnvFile], environment: [String: String]) -> EnvironmentVariables {
        var result = EnvironmentVariables(values: [:])
        for file in files {
            for entry in file.entries {
                result.values[entry.key] = entry.value
                result.origins[entry.key] = "\(file.path):\(entry.line)"
            }
        }
        for (key, value) in environment {
            result.values[key] = value
            result.origins[key] = "environment"
        }
        return result
    }
}
