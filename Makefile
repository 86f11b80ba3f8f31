# Entry points for people and CI: make run, make check.  meson and ninja do
# the building; this file only puts the steps in order.
#
# Not for: the shim.  Its Kbuild file will sit beside this Makefile, and
# kbuild reads Kbuild in preference to it, so nothing here is a kbuild
# variable.

MESON ?= meson
NINJA ?= ninja
BUILD ?= build
ASAN_BUILD ?= build-asan
MNT ?= /mnt/gmemfs
# make install: where.  The prefix is /usr, not meson's /usr/local, because
# mount(8) looks for mount helpers (mount.fuse.gmemfs) only in /sbin, which
# is /usr/sbin on Debian 12; gmemfsd goes beside it.  SYSCONFDIR holds
# /etc/default/gmemfsd.  DESTDIR stages the tree elsewhere (for packaging).
PREFIX ?= /usr
SYSCONFDIR ?= /etc

# Sanitizer runs stop at the first report and abort, so a daemon that trips
# one dies by SIGABRT and the test that started it fails.  Leak checking
# stays on: gmemfsd returns from main after an unmount, so LeakSanitizer
# runs at its exit (a daemon killed by SIGKILL is simply not checked).
SAN_ENV := \
	ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=1:print_summary=1 \
	UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1:print_summary=1 \
	CK_TIMEOUT_MULTIPLIER=3
# The sanitized build is 2-3x slower; give its tests room before timing out.
SAN_TIMEOUT_MULT := 3

# make bench: every backing side by side (gmembench against a gmemfsd of
# its own); BENCH_ARGS=--quick for a short run.  JSON and plot go to
# BENCH_OUT.
BENCH_ARGS ?=
BENCH_OUT ?= $(BUILD)/bench

.PHONY: build deps run check clean bench install uninstall

build: deps
	@test -f $(BUILD)/build.ninja || \
		$(MESON) setup $(BUILD) --prefix=$(PREFIX) --sysconfdir=$(SYSCONFDIR)
	$(NINJA) -C $(BUILD)

# The build directory may have been set up with another prefix (by hand, or
# before PREFIX changed): set it again before installing.  libfuse, a
# static subproject linked into gmemfsd, installs nothing of its own.
install: build
	$(MESON) configure $(BUILD) -Dprefix=$(PREFIX) -Dsysconfdir=$(SYSCONFDIR)
	DESTDIR="$(DESTDIR)" $(MESON) install -C $(BUILD) --skip-subprojects

# Removes what the last make install put in place (meson's install log).
uninstall:
	$(NINJA) -C $(BUILD) uninstall

deps:
	@tools/install-deps.sh

run: build
	mkdir -p $(MNT)
	exec $(BUILD)/daemon/gmemfsd -f $(MNT)

# Both builds' tests always run; the exit status is non-zero if any test of
# either failed.  testlog.json is removed first so a stale log from an
# earlier run is never counted.  The summary script reaches the shell through
# the environment; the tests do not need to see it.
check: build
	@test -f $(ASAN_BUILD)/build.ninja || \
		$(MESON) setup $(ASAN_BUILD) -Db_sanitize=address,undefined -Db_lundef=false
	$(NINJA) -C $(ASAN_BUILD)
	@rm -f $(BUILD)/meson-logs/testlog.json $(ASAN_BUILD)/meson-logs/testlog.json; \
	ulimit -c 0; \
	rc=0; \
	echo "== tests: $(BUILD)"; \
	env -u CHECK_SUMMARY_PY $(MESON) test -C $(BUILD) --print-errorlogs || rc=1; \
	echo "== tests: $(ASAN_BUILD) (ASan + UBSan)"; \
	env -u CHECK_SUMMARY_PY $(SAN_ENV) $(MESON) test -C $(ASAN_BUILD) --print-errorlogs \
		--timeout-multiplier $(SAN_TIMEOUT_MULT) || rc=1; \
	python3 -c "$$CHECK_SUMMARY_PY" $(BUILD) $(ASAN_BUILD) || rc=1; \
	exit $$rc

bench: build
	bench/run-bench.sh $(BUILD) --json $(BENCH_OUT)/gmembench.json \
		--plot $(BENCH_OUT)/gmembench-ratios.svg $(BENCH_ARGS)
	@echo "reproduce: make bench BENCH_ARGS='$(BENCH_ARGS)'" \
		"(JSON and plot: $(BENCH_OUT)/gmembench.json, gmembench-ratios.svg)"

clean:
	rm -rf -- $(BUILD) $(ASAN_BUILD)

# Sum meson's testlog.json of each build directory given as an argument.
# Last line, exactly: "N passed, N failed".  Skips are listed with the last
# line the test printed (its reason); a build without a log counts as one
# failure, since its tests did not run.  Under CI (CI set) a skip is a
# failure: a test that needs what a machine lacks runs in the test guest
# (tools/test-vm/need.sh), so no machine of ours skips one.
define CHECK_SUMMARY_PY
import json, os, sys

PASS = {"OK", "EXPECTEDFAIL"}
SKIP = {"SKIP"}
passed = failed = 0
print("== summary")
for d in sys.argv[1:]:
    try:
        with open(d + "/meson-logs/testlog.json") as f:
            runs = [json.loads(line) for line in f if line.strip()]
    except OSError:
        print(f"{d}: no test log: its tests did not run")
        failed += 1
        continue
    p = [r for r in runs if r["result"] in PASS]
    s = [r for r in runs if r["result"] in SKIP]
    bad = [r for r in runs if r["result"] not in PASS | SKIP]
    if os.environ.get("CI"):
        bad += s
        s = []
    passed += len(p)
    failed += len(bad)
    print(f"{d}: {len(p)} passed, {len(bad)} failed, {len(s)} skipped")
    for r in bad:
        print(f"  FAILED  {r['name']} ({r['result']}, exit {r.get('returncode')})")
    for r in s:
        out = (r.get("stdout") or "").strip().splitlines()
        why = out[-1] if out else "no reason printed"
        print(f"  SKIPPED {r['name']}: {why}")
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
endef
check: export CHECK_SUMMARY_PY := $(CHECK_SUMMARY_PY)
