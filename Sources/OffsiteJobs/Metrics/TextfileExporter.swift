import Foundation

/// Writes the metrics for node_exporter's textfile collector (`BACKUP_METRICS_TEXTFILE`, a `*.prom`
/// file in the directory given to `--collector.textfile.directory`).
public enum TextfileExporter {
    /// Replaces the file at `path` with `text` atomically, so the collector never reads half a file
    /// (the temporary file's name does not end in `.prom`). Mode 0644 whatever the umask, for
    /// node_exporter's user: metrics hold no secrets.
    /// - Throws: `.io` naming the file when it cannot be written.
    public static func write(text: String, to path: String) throws(JobsError) {
        do {
            try AtomicFile.write(Data(text.utf8), to: path, mode: 0o644)
            // Readable by node_exporter's user whatever the umask.
            chmod(path, 0o644)
        } catch {
            throw JobsError(
                .io,
                "\(path): cannot write the metrics textfile (\(error.message)); check BACKUP_METRICS_TEXTFILE's directory exists and is writable"
            )
        }
    }
}
