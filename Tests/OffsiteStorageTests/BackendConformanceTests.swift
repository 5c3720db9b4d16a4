import Foundation
import OffsiteStorage
import OffsiteTesting
import Testing

@Suite struct BackendConformanceTests {
    @Test(arguments: BackendConformance.cases)
    func memory(_ c: BackendConformance.Case) async throws {
        let b = MemoryBackend()
        try await b.create()
        try await c.run(b)
    }

    @Test(arguments: BackendConformance.cases)
    func local(_ c: BackendConformance.Case) async throws {
        try await withScratchDirectory { dir in
            let b = LocalBackend(path: dir + "/repo")
            try await b.create()
            try await c.run(b)
        }
    }
}
