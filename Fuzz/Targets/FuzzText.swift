import Foundation
import OffsiteCloud
import OffsiteJobs

/// The text parsers: repository locations, cron schedules, `.env` files and `offsite.yml`.
enum FuzzText {
    static func url(_ text: String) throws(FuzzViolation) {
        if let s3 = try? S3Config.parse(text, environment: [:], options: [:]) {
            guard !s3.endpoint.isEmpty, !s3.bucket.isEmpty, !s3.bucket.contains("/") else {
                throw FuzzViolation("s3: accepted endpoint \(s3.endpoint.debugDescription), bucket \(s3.bucket.debugDescription)")
            }
            try cleanPrefix("s3", s3.prefix)
            // The location it shows parses back to the same repository.
            guard let again = try? S3Config.parse(s3.location, environment: [:], options: [:]) else {
                throw FuzzViolation("s3: its location \(s3.location.debugDescription) does not parse")
            }
            guard again.endpoint == s3.endpoint, again.bucket == s3.bucket, again.prefix == s3.prefix, again.useHTTP == s3.useHTTP
            else { throw FuzzViolation("s3: its location \(s3.location.debugDescription) names another repository") }
        }
        if let gcs = try? GCSConfig.parse(text, environment: [:], options: [:]) {
            guard !gcs.bucket.isEmpty, !gcs.bucket.contains("/") else { throw FuzzViolation("gs: bucket \(gcs.bucket.debugDescription)") }
            try cleanPrefix("gs", gcs.prefix)
            // As Go's path.Clean: no `.` left, and `..` only leading a relative prefix (`gs:b:../x`;
            // object names, not a path: nothing above the bucket is reachable).
            let parts = gcs.prefix.split(separator: "/")
            guard !parts.contains("."), !parts.drop(while: { $0 == ".." }).contains("..") else {
                throw FuzzViolation("gs: prefix \(gcs.prefix.debugDescription) is not clean")
            }
            guard let again = try? GCSConfig.parse(gcs.location, environment: [:], options: [:]),
                again.bucket == gcs.bucket, again.prefix == gcs.prefix
            else { throw FuzzViolation("gs: its location \(gcs.location.debugDescription) names another repository") }
        }
        _ = RESTConfig.strippingPassword(text)
        if let rest = try? RESTConfig.parse(text) {
            guard rest.url.hasSuffix("/"), let scheme = rest.url.split(separator: ":").first,
                scheme.lowercased() == "http" || scheme.lowercased() == "https"
            else { throw FuzzViolation("rest: accepted URL \(rest.url.debugDescription)") }
            // The requested URL carries no user information.
            if let c = URLComponents(string: rest.url), c.user != nil || c.password != nil {
                throw FuzzViolation("rest: the request URL keeps the user information")
            }
            // The password never shows in the location (unless it also is part of the rest of it).
            if let password = rest.password, password.count >= 4 {
                let rest2 = RESTConfig(url: rest.url, user: rest.user, password: "")
                if rest.location.contains(password) && !rest2.location.contains(password) && !"***".contains(password) {
                    throw FuzzViolation("rest: the location shows the password")
                }
            }
        }
    }

    static func cleanPrefix(_ scheme: String, _ prefix: String) throws(FuzzViolation) {
        guard !prefix.hasPrefix("/"), !prefix.hasSuffix("/"), !prefix.contains("//") else {
            throw FuzzViolation("\(scheme): prefix \(prefix.debugDescription) is not clean")
        }
    }

    /// Dates the next-run search starts from: an ordinary day, and the night Europe/Paris springs
    /// forward (2026-03-29 01:00 UTC) and falls back (2026-10-25 00:30 UTC).
    static let starts = [
        Date(timeIntervalSince1970: 1_767_225_600), Date(timeIntervalSince1970: 1_774_746_000), Date(timeIntervalSince1970: 1_792_888_200),
    ]
    static let zones = [TimeZone(identifier: "UTC")!, TimeZone(identifier: "Europe/Paris")!]

    static func cron(_ text: String) throws(FuzzViolation) {
        guard let schedule = try? CronSchedule(parsing: text) else { return }
        guard let again = try? CronSchedule(parsing: schedule.expression), again == schedule else {
            throw FuzzViolation("cron: its expression \(schedule.expression.debugDescription) does not parse to itself")
        }
        if let interval = schedule.interval, interval <= .zero {
            throw FuzzViolation("cron: @every interval \(interval) accepted")
        }
        for zone in zones {
            for start in starts {
                // A schedule that parsed runs, strictly later, on a whole minute, twice in a row.
                let first = schedule.next(after: start, in: zone)
                let second = schedule.next(after: first, in: zone)
                guard first > start, second > first else {
                    throw FuzzViolation("cron: \(schedule.expression.debugDescription) next run not after \(start) in \(zone.identifier)")
                }
                if schedule.interval == nil, first.timeIntervalSince1970.truncatingRemainder(dividingBy: 60) != 0 {
                    throw FuzzViolation("cron: \(schedule.expression.debugDescription) runs at \(first), not a whole minute")
                }
            }
        }
    }

    static func env(_ text: String) throws(FuzzViolation) {
        guard let file = try? EnvFile.parse(text, path: ".env") else { return }
        for entry in file.entries {
            guard !entry.key.isEmpty, !entry.key.contains("="), !entry.key.contains(where: \.isWhitespace) else {
                throw FuzzViolation("env: key \(entry.key.debugDescription) accepted")
            }
        }
        // The settings read from it: valid or a list of problems, never a crash.
        _ = try? JobSettings(variables: EnvironmentVariables.merge(files: [file], environment: [:]))
    }

    static func yaml(_ text: String) throws(FuzzViolation) {
        guard let configuration = try? Configuration.load(yaml: text, path: "offsite.yml", environment: [:]) else { return }
        // A configuration that loads has what the daemon needs to run.
        guard !configuration.repositories.isEmpty, !configuration.jobs.isEmpty else {
            throw FuzzViolation("yaml: a configuration without repositories or jobs loaded")
        }
    }
}
