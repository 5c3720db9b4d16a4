import ArgumentParser
import Foundation
import OffsiteJobs

/// Where the orchestrator's commands (`run`, `daemon`, `status`, `config check`, `drill`, `doctor`,
/// `cost`) find their configuration and state.
struct JobOptions: ParsableArguments {
    @Option(
        name: .customLong("env-file"),
        help: ArgumentHelp(
            "A .env file as the guide writes them (repeatable; later files override earlier ones, the process environment overrides files).",
            valueName: "path"))
    var envFiles: [String] = []

    @Option(
        name: .customLong("config"),
        help: ArgumentHelp(
            "An offsite.yml with several jobs and repositories (default: $OFFSITE_CONFIG; without one, the variables describe one repository and the postgres, redis and volumes jobs).",
            valueName: "path"))
    var config: String?

    @Option(
        name: .customLong("state-dir"),
        help: ArgumentHelp(
            "Where the last runs are remembered (default: $OFFSITE_STATE_DIR, /var/lib/offsite for root, else ~/.local/state/offsite).",
            valueName: "dir"))
    var stateDirectory: String?

    /// The merged variables: env files, then the process environment.
    func variables() throws(JobsError) -> EnvironmentVariables {
        var files: [EnvFile] = []
        for path in envFiles { files.append(try EnvFile.load(path: path)) }
        return EnvironmentVariables.merge(files: files, environment: ProcessInfo.processInfo.environment)
    }

    /// The configuration, validated: every mistake is reported at once.
    func configuration() throws(JobsError) -> Configuration {
        let variables = try variables()
        if let path = config ?? variables["OFFSITE_CONFIG"].flatMap({ $0.isEmpty ? nil : $0 }) {
            return try Configuration.load(path: path, environment: variables.values)
        }
        let settings = try JobSettings(variables: variables)
        return Configuration(settings: settings, environment: variables.values)
    }

    func store(environment: [String: String]) -> StateStore {
        StateStore(directory: stateDirectory ?? StateStore.defaultDirectory(environment: environment))
    }

    /// The orchestrator for this configuration, running this very binary for each step.
    func orchestrator(_ configuration: Configuration, log: @escaping @Sendable (String) -> Void) -> Orchestrator {
        Orchestrator(
            configuration: configuration, offsite: Self.ownExecutable(environment: configuration.environment),
            store: store(environment: configuration.environment), log: log)
    }

    /// The jobs a `run` or `drill` argument names: one job, or `all`.
    static func select(_ name: String, in configuration: Configuration) throws(JobsError) -> [JobDefinition] {
        if name == "all" {
            guard !configuration.jobs.isEmpty else { throw JobsError(.invalidSettings, "no jobs are configured (BACKUP_JOBS is empty)") }
            return configuration.jobs
        }
        if let job = configuration.job(named: name) { return [job] }
        let names = configuration.jobs.map(\.name).joined(separator: ", ")
        throw JobsError(.invalidSettings, "no job named \(name); configured: \(names.isEmpty ? "none" : names), or all")
    }

    /// This process's executable (`OFFSITE_BINARY` overrides it).
    static func ownExecutable(environment: [String: String]) -> String {
        if let path = environment["OFFSITE_BINARY"], !path.isEmpty { return path }
        if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return path }
        return CommandLine.arguments[0]
    }
}

/// Runs an orchestrator command body: configuration mistakes and other `JobsError`s print as
/// `Fatal: …` and exit 1.
func runJobCommand(_ body: @escaping @Sendable () async throws -> Void) async throws {
    do {
        try await runCancellable(body)
    } catch let error as JobsError {
        Console.error("Fatal: \(error.message)")
        throw ExitCode(ExitStatus.fatal)
    }
}
