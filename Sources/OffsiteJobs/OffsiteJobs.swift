// OffsiteJobs: the orchestrator as a library (issue 7).
//
// Vocabulary and flow, so far: `EnvFile` parses the operators' `.env` files; `EnvironmentVariables`
// merges them with the process environment (the environment wins); `JobSettings` validates the merged
// variables into typed settings, reporting every mistake at once as `SettingsProblem`s and keeping
// passwords in `Secret`s that never print; `CronSchedule` parses cron expressions, macros and
// `@every`, and computes the next run in a time zone with Vixie cron's DST rules. Still to come:
// dump sources (PostgreSQL, Redis, volumes), the daemon, metrics and drills.
