# umhmm: every target is one script in scripts/; see README.md.
# FLAVOR=base|debug, BUILD_DIR, KERNEL_SRC, TESTS and JOBS are read from
# the environment or the make command line.

export FLAVOR BUILD_DIR KERNEL_SRC TESTS JOBS

.PHONY: test coverage selftests bench bench-vm profile fuzz faultsweep series check lint shell deps clean

test:
	@bash scripts/test.sh

coverage:
	@bash scripts/coverage-run.sh

selftests:
	@bash scripts/selftests.sh

bench:
	@bash scripts/bench.sh

bench-vm:
	@bash scripts/bench-vm.sh

profile:
	@bash scripts/profile.sh

fuzz:
	@bash scripts/fuzz.sh

faultsweep:
	@bash scripts/faultsweep.sh

series:
	@bash scripts/series.sh

check:
	@bash scripts/check.sh

lint:
	@bash scripts/lint.sh

shell:
	@bash scripts/shell.sh

deps:
	@bash scripts/deps.sh

clean:
	@bash scripts/clean.sh
