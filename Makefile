# offsite: the two set-up commands are `make demo` and `make test` (see README.md).
.PHONY: deps build demo test clean

deps:
	./scripts/deps.sh

build: deps
	swift build

demo: build
	./scripts/demo.sh

test: deps
	swift build --build-tests
	swift test

clean:
	rm -rf .build demo-work
