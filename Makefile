# delta_sync — PGXS build of the extension, plus the project's entry points:
#   make demo    throwaway cluster, a demo table, changes, deltas shown
#   make test    every suite (pg_regress, ctest, tests/ scripts), one summary line at the end
#   make bench   benchmarks (bench/)
#   make deb     Debian packages (debian/) in build/deb/
# `make test` and `make demo` first install what is missing with apt-get (tests/deps.sh), so the
# PGXS include below is optional: without server headers only those targets can run.

EXTENSION = delta_sync
EXTVERSION = 1.2
MODULE_big = delta_sync

EXT_SRCS = $(wildcard src/extension/*.cpp)
OBJS = $(EXT_SRCS:.cpp=.o)
# Each release is its predecessor plus an upgrade script; the full script of the current version
# is built from them, so the upgrade path and a fresh install can never disagree.
UPGRADES = src/extension/delta_sync--1.0--1.1.sql src/extension/delta_sync--1.1--1.2.sql
DATA = src/extension/delta_sync--1.0.sql $(UPGRADES)
DATA_built = src/extension/delta_sync--$(EXTVERSION).sql

# pg_regress tests are found, not listed; none of them repeats CREATE EXTENSION.
TESTS = $(wildcard sql/*.sql)
# DELTA_SYNC_REGRESS_SKIP leaves tests out: debian/tests runs the suite against the installed
# package in a tree where the test-only boundary probe (below) is not built.
REGRESS = $(filter-out $(DELTA_SYNC_REGRESS_SKIP),$(patsubst sql/%.sql,%,$(TESTS)))
REGRESS_OPTS = --load-extension=delta_sync

PG_CXXFLAGS += -std=c++17 -Wall -Wextra -Werror -Wno-register -Wno-missing-field-initializers -Wno-unused-parameter -fno-omit-frame-pointer
SHLIB_LINK += -lstdc++
EXTRA_CLEAN = build results regression.diffs regression.out

PG_CONFIG ?= /usr/lib/postgresql/15/bin/pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifneq ($(wildcard $(PGXS)),)
include $(PGXS)
# PGXS tracks no header dependencies: every object depends on every header of the extension.
$(OBJS) $(OBJS:.o=.bc): $(wildcard src/extension/*.hpp)
# Debian's server is built with LLVM: the bitcode rule ignores PG_CXXFLAGS, so give it the standard too.
COMPILE.cxx.bc = $(CLANG) -xc++ -Wno-ignored-attributes -Wno-register -std=c++17 $(BITCODE_CXXFLAGS) $(CPPFLAGS) -emit-llvm -c
# A test-only module, never installed: probes of the C++/PostgreSQL boundary that
# sql/boundary.sql loads by its path (tests/boundary/boundary_probe.cpp).
BOUNDARY_PROBE = tests/boundary/boundary_probe$(DLSUFFIX)
all: $(BOUNDARY_PROBE)
tests/boundary/boundary_probe.o: $(wildcard src/extension/*.hpp)
$(BOUNDARY_PROBE): tests/boundary/boundary_probe.o src/extension/boundary.o
	$(CXX) $(CXXFLAGS) $(LDFLAGS) $(LDFLAGS_SL) -shared -o $@ $^ -lstdc++
EXTRA_CLEAN += $(BOUNDARY_PROBE) tests/boundary/boundary_probe.o
endif

.DEFAULT_GOAL := all

src/extension/delta_sync--$(EXTVERSION).sql: src/extension/delta_sync--1.0.sql $(UPGRADES)
	{ cat src/extension/delta_sync--1.0.sql; for f in $(UPGRADES); do sed '/^\\echo /d' $$f; done; } > $@
.PHONY: deps test demo bench fuzz deb

deps:
	@tests/deps.sh

test: deps
	@tests/run_all.sh

demo: deps
	@tests/demo.sh

bench: deps
	@DELTA_SYNC_BENCH=1 tests/deps.sh
	@bench/run.sh

fuzz: deps
	@tests/fuzz.sh

# The Debian packages postgresql-15-delta-sync and delta-sync, built from a copy of the working tree
# (the files git tracks or would track: no build products) in build/deb/src, since dpkg-buildpackage
# writes into its tree and puts the packages into the parent directory: build/deb/*.deb.
DEB_DIR = build/deb
deb: SHELL = /bin/bash
deb: deps
	@git rev-parse --git-dir >/dev/null 2>&1 || { echo "make deb: needs a git checkout (it packages the files git tracks)" >&2; exit 1; }
	rm -rf $(DEB_DIR)
	mkdir -p $(DEB_DIR)/src
	git ls-files -z --cached --others --exclude-standard | \
	  while IFS= read -r -d '' f; do [ -e "$$f" ] && printf '%s\0' "$$f"; done | \
	  tar --null -T - -cf - | tar -xf - -C $(DEB_DIR)/src
	cd $(DEB_DIR)/src && DEB_BUILD_OPTIONS="parallel=2 $(DEB_BUILD_OPTIONS)" dpkg-buildpackage -us -uc -b
	@ls -1 $(DEB_DIR)/*.deb
