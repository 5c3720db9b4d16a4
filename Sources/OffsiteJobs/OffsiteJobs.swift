// OffsiteJobs: the orchestrator as a library.
//
// Vocabulary and flow: `EnvFile` parses the operators' `.env` files and `EnvironmentVariables`
// merges them with the process environment (the environment wins); `OffsiteYAMLReader` reads
// `offsite.yml`; `JobSettings` validates what they say into a `Configuration`, reporting every
// mistake at once as `SettingsProblem`s and keeping passwords in `Secret`s that never print.
// `Orchestrator` runs the PostgreSQL, Redis and volume jobs through the offsite binary, then
// retention, prune and check, and records each run in `RunState`; the metrics are rendered from
// that state for the pushgateway, the textfile and the daemon's `/metrics`. `Daemon` runs the
// operations on their `CronSchedule`s (Vixie cron's rules, DST included); the drills (Drill/)
// restore into scratch databases and directories and count what came back.
// docs/ARCHITECTURE.md, section 6, has the map.
