"""scripts/bench as a package: each module one part of the benchmark (see scripts/bench)."""
