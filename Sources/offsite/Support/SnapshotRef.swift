import Foundation
import OffsiteEngine
import OffsiteFormat

#if canImport(Glibc)
import Glibc
#endif

/// Splits restic's `ID[:subpath]` snapshot reference.
func splitSnapshotRef(_ ref: String) -> (String, String?) {
    guard let colon = ref.firstIndex(of: ":") else { return (ref, nil) }
    return (String(ref[..<colon]), String(ref[ref.index(after: colon)...]))
}
