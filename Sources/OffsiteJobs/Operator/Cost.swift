import Foundation

/// A storage price: dollars per GB (10^9 bytes, as providers bill) and month.
public struct StoragePrice: Sendable, Equatable, Codable {
    /// `s3`, `b2`, `gcs-nearline`, or any name given with `--price NAME=DOLLARS`.
    public var name: String
    public var label: String
    public var dollarsPerGBMonth: Double

    public init(name: String, label: String, dollarsPerGBMonth: Double) {
        self.name = name
        self.label = label
        self.dollarsPerGBMonth = dollarsPerGBMonth
    }
}

/// One provider's line of `offsite cost`.
public struct CostLine: Sendable, Equatable, Codable {
    public var provider: String
    public var label: String
    public var dollarsPerGBMonth: Double
    public var gigabytes: Double
    public var dollarsPerMonth: Double
}

/// One repository's estimate.
public struct CostReport: Sendable, Equatable, Codable {
    public var repository: String
    /// Shown without any password.
    public var location: String
    /// The repository's stored size: the blobs as they sit in pack files, compressed and encrypted
    /// (`offsite stats --mode raw-data`), shared data counted once.
    public var bytes: Int64
    public var lines: [CostLine]
}

/// `offsite cost`: the monthly storage bill of the repository as it is, from its real stored size
/// (not snapshots × snapshot size: snapshots share their data). Storage only: requests, egress and
/// minimum storage durations are not included.
public enum Cost {
    /// The guide's prices (S3 Standard, Backblaze B2, GCS Nearline), dollars per GB-month.
    public static let defaultPrices = [
        StoragePrice(name: "s3", label: "S3 Standard", dollarsPerGBMonth: 0.023),
        StoragePrice(name: "b2", label: "Backblaze B2", dollarsPerGBMonth: 0.005),
        StoragePrice(name: "gcs-nearline", label: "GCS Nearline", dollarsPerGBMonth: 0.010),
    ]

    /// The variable that overrides a price: `OFFSITE_PRICE_S3`, `OFFSITE_PRICE_B2`, `OFFSITE_PRICE_GCS_NEARLINE`.
    public static func variable(for name: String) -> String {
        "OFFSITE_PRICE_" + name.uppercased().replacingOccurrences(of: "-", with: "_")
    }

    /// The default prices, overridden by `OFFSITE_PRICE_*` in `environment`, then by `overrides`
    /// (`NAME=DOLLARS`, from `--price`; a new name adds a line).
    /// - Throws: `.invalidSettings` naming the bad value.
    public static func prices(overrides: [String], environment: [String: String]) throws(JobsError) -> [StoragePrice] {
        var prices = defaultPrices
        func set(_ name: String, _ text: String, origin: String) throws(JobsError) {
            guard let value = Double(text.trimmingCharacters(in: .whitespaces)), value >= 0, value.isFinite else {
                throw JobsError(.invalidSettings, "\(origin): \"\(text)\" is not a price in dollars per GB-month (such as 0.023)")
            }
            if let i = prices.firstIndex(where: { $0.name == name }) {
                prices[i].dollarsPerGBMonth = value
            } else {
                prices.append(StoragePrice(name: name, label: name, dollarsPerGBMonth: value))
            }
        }
        for price in defaultPrices {
            if let text = environment[variable(for: price.name)], !text.isEmpty {
                try set(price.name, text, origin: variable(for: price.name))
            }
        }
        for item in overrides {
            guard let eq = item.firstIndex(of: "="), eq != item.startIndex else {
                throw JobsError(.invalidSettings, "--price \(item): expected NAME=DOLLARS, such as s3=0.023")
            }
            try set(String(item[..<eq]).lowercased(), String(item[item.index(after: eq)...]), origin: "--price \(item[..<eq])")
        }
        return prices
    }

    /// Storage cost per month of `bytes` at each price; GB = 10^9 bytes.
    public static func estimate(bytes: Int64, prices: [StoragePrice]) -> [CostLine] {
        let gigabytes = Double(bytes) / 1e9
        return prices.map {
            CostLine(
                provider: $0.name, label: $0.label, dollarsPerGBMonth: $0.dollarsPerGBMonth, gigabytes: gigabytes,
                dollarsPerMonth: gigabytes * $0.dollarsPerGBMonth)
        }
    }

    /// The repository's stored size from `offsite stats --mode raw-data --json` (`total_size`).
    /// - Throws: `.repository` with offsite's reason when it cannot be read.
    public static func repositorySize(_ repository: RepositoryTarget, _ orchestrator: Orchestrator) async throws(JobsError) -> Int64 {
        let out = try await orchestrator.offsite(["stats", "--mode", "raw-data", "--json", "--no-lock"], repository: repository)
        guard out.succeeded else {
            throw JobsError(.repository, "repository \(repository.location): cannot read its size: \(out.reason())")
        }
        guard let object = try? JSONSerialization.jsonObject(with: Data(out.stdout.utf8)) as? [String: Any],
            let size = (object["total_size"] as? NSNumber)?.int64Value
        else {
            throw JobsError(.repository, "repository \(repository.location): offsite stats printed no total_size")
        }
        return size
    }

    /// The estimate for each repository of the configuration.
    public static func reports(_ orchestrator: Orchestrator, prices: [StoragePrice]) async throws(JobsError) -> [CostReport] {
        var reports: [CostReport] = []
        for repository in orchestrator.configuration.repositories {
            let bytes = try await repositorySize(repository, orchestrator)
            reports.append(
                CostReport(
                    repository: repository.name, location: repository.location.description, bytes: bytes,
                    lines: estimate(bytes: bytes, prices: prices)))
        }
        return reports
    }

    /// `$1.23`, or four decimals below a cent so that a small repository does not show `$0.00`.
    public static func dollars(_ value: Double) -> String {
        if value > 0 && value < 0.0001 { return "< $0.0001" }
        return value < 0.01 ? String(format: "$%.4f", value) : String(format: "$%.2f", value)
    }
}
