import Foundation
import Testing

@testable import OffsiteJobs

@Suite struct EnvFileTests {
    func parse(_ text: String) throws -> [String: String] {
        try EnvFile.parse(text, path: ".env.test").variables
    }

    @Test(arguments: [
        ("KEY=value", "value"),
        ("KEY = value", "value"),
        ("export KEY=value", "value"),
        ("export\tKEY=value", "value"),
        ("  KEY=value   ", "value"),
        ("KEY=", ""),
        ("KEY=a=b=c", "a=b=c"),
        ("KEY=0 */6 * * *", "0 */6 * * *"),
        ("KEY=eu-west-1  # ou us-east-1", "eu-west-1"),
        ("KEY=30    # 30 jours quotidiens", "30"),
        ("KEY=pa#ss", "pa#ss"),
        ("KEY=<généré avec: openssl rand -base64 32>", "<généré avec: openssl rand -base64 32>"),
        ("KEY='single # not a comment $HOME \\n'", "single # not a comment $HOME \\n"),
        ("KEY=\"0 */12 * * *\"", "0 */12 * * *"),
        ("KEY=\"a\\nb\\t\\\"c\\\"\\\\\\$\"", "a\nb\t\"c\"\\$"),
        ("KEY=\"keep \\x\"", "keep \\x"),
        ("KEY=\"quoted\"  # comment", "quoted"),
        ("KEY=''", ""),
        ("KEY=value\r", "value"),
        ("_K1=v", "v"),
    ])
    func values(line: String, expected: String) throws {
        let key = line.contains("_K1") ? "_K1" : "KEY"
        #expect(try parse(line)[key] == expected)
    }

    @Test func commentsBlankLinesAndOverrides() throws {
        let file = try EnvFile.parse(
            """
            # ===================================
            # Restic Offsite Backup Configuration

               # indented comment
            A=1
            B=2

            A=3
            """,
            path: ".env"
        )
        #expect(file.variables == ["A": "3", "B": "2"])
        #expect(file.entries.map(\.line) == [5, 6, 8])
    }

    @Test func multilineQuotedValue() throws {
        let file = try EnvFile.parse("A=\"line1\nline2\"\nB='x\ny'\nC=3\n", path: ".env")
        #expect(file.variables == ["A": "line1\nline2", "B": "x\ny", "C": "3"])
        #expect(file.entries.map(\.line) == [1, 3, 5])
    }

    @Test func crlfLineEndings() throws {
        #expect(try parse("A=1\r\nB=two words\r\n") == ["A": "1", "B": "two words"])
    }

    @Test(arguments: [
        ("A=1\nB=\"unterminated\nC=3", ".env.test:2: unterminated double quote"),
        ("A=1\n\nB='x", ".env.test:3: unterminated single quote"),
        ("A=1\njustaword", ".env.test:2: expected KEY=VALUE but justaword has no '='"),
        ("1ABC=x", ".env.test:1: expected a variable name"),
        ("MY-KEY=x", ".env.test:1: invalid variable name"),
        ("A=\"x\"y", ".env.test:1: unexpected characters after the closing quote"),
        ("=x", ".env.test:1: expected a variable name"),
    ])
    func errorsNameFileAndLine(text: String, expected: String) {
        #expect {
            try EnvFile.parse(text, path: ".env.test")
        } throws: { error in
            guard let error = error as? JobsError else { return false }
            return error.code == .invalidEnvFile && error.message.hasPrefix(expected)
        }
    }

    @Test func errorsNeverQuoteTheValue() {
        #expect {
            try EnvFile.parse("RESTIC_PASSWORD=\"s3cr3t-value", path: ".env")
        } throws: { error in
            !(error as! JobsError).message.contains("s3cr3t")
        }
    }

    @Test func loadReadsAFileAndReportsMissingOnes() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("offsite-env-\(UUID().uuidString)").path
        try "A=1\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(try EnvFile.load(path: path).variables == ["A": "1"])
        #expect {
            try EnvFile.load(path: path + ".missing")
        } throws: { error in
            let error = error as! JobsError
            return error.code == .io && error.message.hasPrefix(path + ".missing:")
        }
    }

    @Test func environmentOverridesFilesAndLaterFilesOverrideEarlier() throws {
        let base = try EnvFile.parse("A=base\nB=base\nC=base\n", path: ".env")
        let production = try EnvFile.parse("B=prod\nC=prod\n", path: ".env.production")
        let merged = EnvironmentVariables.merge(files: [base, production], environment: ["C": "env"])
        #expect(merged.values == ["A": "base", "B": "prod", "C": "env"])
        #expect(merged.origins == ["A": ".env:1", "B": ".env.production:1", "C": "environment"])
    }
}
