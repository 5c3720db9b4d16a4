# offsite: the two set-up commands are `make demo` and `make test` (see README.md).
.PHONY: deps build demo test bench bench-quick clean

deps:
	./scripts/deps.sh

build: deps
	swift build

demo: build
	./scripts/demo.sh

test: deps
	swift build --build-tests
	swift test

# offsite vs restic on a ~1 GB dataset; rewrites the table in docs/PERFORMANCE.md.
bench: deps
	./scripts/bench

# The short form CI runs: a ~20 MB dataset, correctness of every restore, no timing targets.
bench-quick: deps
	./scripts/bench --quick

clean:
	rm -rf .build .build-bench demo-work
