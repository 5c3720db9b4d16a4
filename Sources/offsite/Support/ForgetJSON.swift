import OffsiteEngine
import OffsiteFormat

/// `forget --json`: restic's array of groups.
enum ForgetJSON {
    static func groups(_ plans: [Forget.GroupPlan]) -> String {
        var w = GoJSONWriter()
        w.beginArray()
        for plan in plans {
            w.beginObject()
            w.key("tags")
            if let tags = plan.key.tags { w.stringArray(tags) } else { w.null() }
            w.field("host", plan.key.hostname)
            w.key("paths")
            if let paths = plan.key.paths { w.stringArray(paths) } else { w.null() }
            let keep = plan.decision.keep
            w.key("keep")
            snapshots(keep.map { ($0.id, $0.snapshot) }, &w)
            w.key("remove")
            snapshots(plan.decision.remove, &w)
            w.key("reasons")
            if keep.isEmpty {
                w.null()
            } else {
                w.beginArray()
                for k in keep { reason(k, &w) }
                w.endArray()
            }
            w.endObject()
        }
        w.endArray()
        return String(decoding: w.bytes, as: UTF8.self)
    }

    /// A list of snapshots as `snapshots --json` prints them; `null` when empty (a nil Go slice).
    private static func snapshots(_ list: [(id: ID, snapshot: Snapshot)], _ w: inout GoJSONWriter) {
        guard !list.isEmpty else { return w.null() }
        w.beginArray()
        for (id, s) in list { JSONOutput.snapshot(s, id: id, writer: &w) }
        w.endArray()
    }

    /// restic's `KeepReason`: the snapshot (without its ID), the matches and the counters left
    /// (zero counters omitted).
    private static func reason(_ k: ForgetPolicy.Kept, _ w: inout GoJSONWriter) {
        w.beginObject()
        w.key("snapshot")
        w.beginObject()
        k.snapshot.writeFields(to: &w)
        w.endObject()
        w.field("matches", k.matches, omitEmpty: false)
        w.key("counters")
        w.beginObject()
        w.field("last", k.counters.last, omitEmpty: true)
        w.field("hourly", k.counters.hourly, omitEmpty: true)
        w.field("daily", k.counters.daily, omitEmpty: true)
        w.field("weekly", k.counters.weekly, omitEmpty: true)
        w.field("monthly", k.counters.monthly, omitEmpty: true)
        w.field("yearly", k.counters.yearly, omitEmpty: true)
        w.endObject()
        w.endObject()
    }
}
