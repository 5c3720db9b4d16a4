# offsite: the two set-up commands are `make demo` and `make test` (see README.md).
.PHONY: deps build demo test bench bench-quick microbench bench-deep crash concurrency corrupt hostile fuzz fuzz-smoke sanitize sanitize-engine secrets compat clean

deps:
	./scripts/deps.sh

build: deps
	swift build

demo: build
	./scripts/demo.sh

# scripts/test: the plain run of every suite but the engine's own, and beside it the engine's
# suites (format, storage, engine) under AddressSanitizer and LeakSanitizer in the engine-only
# instrumented build (scripts/sanitize --engine address). docs/RELIABILITY.md, Sanitizers, says
# why this subset.
test: deps
	./scripts/test

# offsite vs restic on a ~1 GB dataset; rewrites the table in docs/PERFORMANCE.md.
bench: deps
	./scripts/bench

# Micro-benchmarks of the engine's hot paths (chunker, SHA-256, seal/open, zstd, pack assembly,
# index lookups) in a release build of the engine alone (.build-microbench); seconds per run once
# built. CI builds them (in the sanitizer's engine build) but does not time them.
microbench:
	./scripts/microbench

# The short form CI runs: a ~20 MB dataset, correctness of every restore, no timing targets.
# It uses the debug binary `make test` already built (no second, release build of the
# dependencies: timings are not judged here), with the same SWIFT_BUILD_FLAGS.
bench-quick: deps
	swift build --product offsite $(SWIFT_BUILD_FLAGS)
	./scripts/bench --quick --offsite .build/debug/offsite

# offsite vs restic on a 10,000-deep chain of directories: dump and restore (on a fresh ext4 loop
# device as root), medians and ratios; --write rewrites the table in docs/RELIABILITY.md. CI checks
# the chain's restore and a 2,500-deep dump in HostileRepositoryTests.
bench-deep: deps
	./scripts/bench-deep --write

# Hostile repositories: HostileRepositoryTests with restic 0.14 beside offsite; rewrites the table
# of cases in docs/RELIABILITY.md. `make test` runs the suite (offsite's side asserted).
hostile: deps
	./scripts/hostile

# Crash consistency: 30 SIGKILLs per command (backup, forget --prune, prune, copy, key add),
# each followed by offsite check, restic check, restores and a re-run; rewrites the figures in
# docs/RELIABILITY.md. `make test` runs the short form (3 kills per command).
crash: deps
	./scripts/crash

# Concurrency: four clients (one of them restic 0.14) back up into one repository at once for 30
# rounds while forget --prune runs in between, on a local directory and a REST server; then both
# tools' check --read-data and every kept snapshot restored with both; rewrites the figures in
# docs/RELIABILITY.md. `make test` runs the short form (2 rounds).
concurrency: deps
	./scripts/concurrency

# Corruption: a flipped byte, a truncation or a deletion in one file of each kind (data pack,
# tree pack, index, snapshot, key, config, lock), 90 rounds per kind in fresh repositories, each
# followed by check, restores of every snapshot and restic's repair procedure; rewrites the figures
# in docs/RELIABILITY.md. `make test` runs the short form (2 rounds per kind).
corrupt: deps
	./scripts/corrupt

# Fuzzing hostile input (docs/RELIABILITY.md, Fuzzing): builds the libFuzzer driver in .build-fuzz
# (a full instrumented build the first time, ~12 min on 2 cores) and runs every target in Fuzz/corpus
# for 1,000,000 inputs, two at a time. fuzz-smoke: 5,000 inputs each. CI's short form is
# OffsiteFuzzingTests in `make test` (each corpus file and 200 mutations of it, no extra build).
fuzz: deps
	FUZZ_JOBS=2 ./Fuzz/run

fuzz-smoke: deps
	./Fuzz/run --runs 5000

# Secrets and malformed server responses (docs/RELIABILITY.md): SecretsTests in full
# (SECRETS_FULL=1: the daemon and an unreachable S3 endpoint too) and MalformedResponseTests,
# printing the figures. `make test` runs both in their short form.
secrets: deps
	./scripts/secrets

# Sanitizers (docs/RELIABILITY.md, Sanitizers): the whole test suite under AddressSanitizer (with
# LeakSanitizer) and ThreadSanitizer, each in its own instrumented build (.build-asan, .build-tsan;
# ~20 min each the first time on 2 cores). `scripts/sanitize thread` runs one; SANITIZE_FILTER a subset.
sanitize: deps
	./scripts/sanitize

# The engine's tests under both sanitizers, in engine-only instrumented builds (~7 min on 2 cores).
sanitize-engine: deps
	./scripts/sanitize --engine

# offsite's command line against restic's: rewrites docs/COMPATIBILITY.md from both tools' help
# and scripts/compat-notes.tsv (`make test` checks it is current and complete).
compat: build
	./scripts/compat

clean:
	rm -rf .build .build-bench .build-microbench .build-fuzz .build-asan .build-tsan .build-asan-engine .build-tsan-engine demo-work
