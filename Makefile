# pytestmon: build, test and tooling entry points. See README.md.
PKGS     := msgpack libuv libxml-2.0 jansson
CC       ?= cc
OPT      ?= -O2 -g
SAN      ?=
BUILD    ?= build
PYTHON   ?= /usr/bin/python3
CFLAGS_ALL = -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE $(OPT) $(SAN) \
             $(shell pkg-config --cflags $(PKGS)) -Isrc $(CFLAGS)
# The co-process does not link libxml2: src/xmllib.c dlopen()s it on the first JUnit read (it
# brings ICU and libstdc++, ~1.9 MB resident). Tests and benches that call libxml2 link it.
LDLIBS_BIN = $(shell pkg-config --libs msgpack libuv jansson) -ldl -lm $(LDLIBS)
LDLIBS_ALL = $(LDLIBS_BIN) $(shell pkg-config --libs libxml-2.0)

LAYERS   := base rpc mem parse pytest
SRC      := $(filter-out src/main.c,$(wildcard src/*.c $(LAYERS:%=src/%/*.c)))
OBJ      := $(SRC:src/%.c=$(BUILD)/obj/%.o)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/unit/%)
BIN      := $(BUILD)/pytestmon

.PHONY: all deps test test-unit test-integration test-nvim07 test-nvim010 nvim010 test-nvim012 nvim012 \
        test-pytest8 pytest8 test-pytest9 pytest9 \
        check-layers demo demo-ui sanitize valgrind fuzz bench soak clean
.DEFAULT_GOAL := all

all: $(BIN) doc/tags $(BUILD)/pyc.stamp

# The plugin's bytecode, next to it (python/__pycache__, python/pytestmon_hooks/__pycache__): Python
# uses it even where it may not write bytecode itself (PYTHONDONTWRITEBYTECODE); other
# interpreters write their own.
$(BUILD)/pyc.stamp: $(wildcard python/*.py python/*/*.py)
	@mkdir -p $(BUILD)
	$(PYTHON) -m compileall -q python
	@touch $@

# Neovim builds help tags for plugins in pack/*/start only when told (:helptags); plugin
# managers do it themselves. Built with the nvim on PATH when there is one; the co-process
# never needs it.
NVIM ?= nvim
doc/tags: doc/pytest.txt
	@if command -v $(NVIM) >/dev/null 2>&1; then \
	    $(NVIM) --headless --clean -u NONE -i NONE -n -c 'helptags $(CURDIR)/doc' -c 'qa!' \
	        </dev/null >/dev/null 2>&1; \
	    test -f $@ || { echo "!!! $(NVIM) could not build $@: run :helptags $(CURDIR)/doc"; exit 1; }; \
	else \
	    echo "note: no nvim on PATH, so $@ was not built: run :helptags ALL in Neovim for :help pytest"; \
	fi

deps:
	@sh tools/deps.sh

# Each object depends on the headers it includes (-MMD writes them to its .d beside it; -MP
# keeps a deleted header from breaking the build).
$(BUILD)/obj/%.o: src/%.c | $(BUILD)/obj
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -MMD -MP -c $< -o $@

-include $(OBJ:.o=.d) $(BUILD)/obj/main.d

$(BUILD)/libpytestmon.a: $(OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BIN): $(BUILD)/obj/main.o $(BUILD)/libpytestmon.a
	$(CC) $(OPT) $(SAN) $^ $(LDLIBS_BIN) -o $@

$(BUILD)/unit/%: tests/unit/%.c $(BUILD)/libpytestmon.a $(wildcard tests/unit/*.h) | $(BUILD)/unit
	$(CC) $(CFLAGS_ALL) -Itests/unit $< $(BUILD)/libpytestmon.a $(LDLIBS_ALL) -lcmocka -o $@

$(BUILD)/obj $(BUILD)/unit:
	@mkdir -p $@

# A private temporary root for one test session (0700, under build/, removed at the end): the
# unit tests' temporary files go there (TMPDIR; tests/unit/testutil.h), so nothing planted in
# /tmp changes a result. The integration suite makes its own (tests/integration/conftest.py).
TEST_TMPDIR = d=$$(mktemp -d "$(CURDIR)/$(BUILD)/tmp.XXXXXX"); trap 'rm -rf "$$d"' EXIT; export TMPDIR="$$d"

# Every unit binary must run; cmocka prints its own summary per binary.
test-unit: $(UNIT_BIN) $(BIN)
	@set -e; $(TEST_TMPDIR); for t in $(UNIT_BIN); do \
	    echo "== $$t"; PYTESTMON_SRCDIR=$(CURDIR) PYTESTMON_BIN=$(CURDIR)/$(BIN) $$t; done

# Integration tests drive a real nvim; run on Debian's 0.7, on 0.10 from Debian 13 and on 0.12
# from Debian unstable.
test-nvim07: $(BIN)
	PYTESTMON_BIN=$(CURDIR)/$(BIN) PYTESTMON_NVIM=nvim \
	    $(PYTHON) -m pytest -p no:cacheprovider tests/integration -q

# A leg that needs a download (Debian 13 or unstable, unpacked privately): $(1) the fetch script
# in tools/, $(2) where it unpacks, $(3) the run's environment, $(4) the -k selection, $(5) what
# the leg runs on. When the fetch fails the leg is reported SKIPPED, loudly.
define fetched_leg
@if sh tools/$(1) $(2); then \
	    $(3) PYTESTMON_BIN=$(CURDIR)/$(BIN) \
	    $(PYTHON) -m pytest -p no:cacheprovider tests/integration -q -k "$(4)"; \
	else \
	    echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"; \
	    echo "!!! SKIPPED: the $(5) integration leg (could not fetch $(5))"; \
	    echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"; \
	fi
endef

NVIM010 := build/nvim-0.10/nvim

nvim010:
	@sh tools/fetch-nvim010.sh build/nvim-0.10

# Suites that never start an editor run once, in the 0.7 leg.
# test_container (a real Docker engine): its editor tests are named editor, checkhealth, nvim_dap;
# test_warm's editors, checkhealth.
EDITORLESS := not (test_rpc_protocol or test_rpc_runs or test_cli_run or test_mem_oracle or test_deps or test_layers or test_hermetic or test_watch_rpc or (test_container and not (editor or checkhealth or nvim_dap)) or (test_warm and not (editors or checkhealth)))

# The 0.10 leg: the editor suites on Debian 13's Neovim 0.10.
test-nvim010: $(BIN)
	$(call fetched_leg,fetch-nvim010.sh,build/nvim-0.10,PYTESTMON_NVIM=$(CURDIR)/$(NVIM010),$(EDITORLESS),nvim 0.10)

# Neovim 0.12 from Debian unstable (tools/fetch-nvim012.sh), the editor suites as on 0.10.
NVIM012 := build/nvim-0.12/nvim

nvim012:
	@sh tools/fetch-nvim012.sh build/nvim-0.12

test-nvim012: $(BIN)
	$(call fetched_leg,fetch-nvim012.sh,build/nvim-0.12,PYTESTMON_NVIM=$(CURDIR)/$(NVIM012),$(EDITORLESS),nvim 0.12)

# Most users run pytest 8: the suites that run pytest and read its output (runs, locations,
# progress, node ids) run again with trixie's pytest 8.3 (and xdist 3.6), unpacked privately
# into build/pytest-8 (tools/fetch-pytest8.sh); the tests' interpreter is PYTESTMON_TEST_PYTHON.
PYTEST8 := build/pytest-8/python
PYTEST8_SUITES := test_memory_exact or test_stream or test_collect or test_rpc_runs or test_cli_run or test_rpc_protocol or test_lua_client or test_ui_e2e or test_exact_locations or test_nearest or test_watch or test_debug or test_coverage or test_tree or test_warm

pytest8:
	@sh tools/fetch-pytest8.sh build/pytest-8

test-pytest8: $(BIN)
	$(call fetched_leg,fetch-pytest8.sh,build/pytest-8,PYTESTMON_TEST_PYTHON=$(CURDIR)/$(PYTEST8) PYTESTMON_NVIM=nvim,$(PYTEST8_SUITES),pytest 8)

# Today's pytest: the same suites on Debian unstable's pytest 9.1 and Python 3.14 (with its
# xdist, debugpy, pytest-cov and coverage), unpacked privately into build/pytest-9
# (tools/fetch-pytest9.sh); build/pytest-9/python is sid's interpreter itself (patchelf'd), so
# pytest's sys.executable starts xdist workers and debugpy's adapter. The tests' own driver
# stays $(PYTHON).
PYTEST9 := build/pytest-9/python

pytest9:
	@sh tools/fetch-pytest9.sh build/pytest-9

test-pytest9: $(BIN)
	$(call fetched_leg,fetch-pytest9.sh,build/pytest-9,PYTESTMON_TEST_PYTHON=$(CURDIR)/$(PYTEST9) PYTESTMON_NVIM=nvim,$(PYTEST8_SUITES),pytest 9 / Python 3.14)

test-integration: test-nvim07 test-nvim010 test-nvim012 test-pytest8 test-pytest9

# src/ is layered (base < rpc, mem, parse < pytest < main/server): see tools/check_layers.py.
check-layers:
	@$(PYTHON) tools/check_layers.py src

test: deps
	@$(MAKE) --no-print-directory check-layers
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory test-unit
	@$(MAKE) --no-print-directory test-integration

# LeakSanitizer runs at every co-process exit: a leak makes the exit code non-zero, which the
# integration tests assert (e.g. test_rpc_protocol.py::test_stdin_eof_is_a_clean_exit).
# A 4 MiB quarantine (default 256) keeps RSS flat enough for the RSS-growth assertions of the
# soak and trend tests once it is full (the soak's baseline is run 50 here, not 10: the
# quarantine and ASan's caches fill first); use-after-free is still caught within the last
# 4 MiB of frees.
SAN_ASAN_OPTIONS ?= detect_leaks=1:quarantine_size_mb=4
sanitize: deps
	@ASAN_OPTIONS="$${ASAN_OPTIONS:-$(SAN_ASAN_OPTIONS)}" PYTESTMON_SOAK_BASELINE=50 \
	    $(MAKE) --no-print-directory BUILD=build/asan \
	    OPT="-O1 -g -fno-omit-frame-pointer" \
	    SAN="-fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=all" test-unit test-nvim07

VALGRIND := valgrind -q --error-exitcode=99 --leak-check=full \
            --errors-for-leak-kinds=definite,indirect --trace-children=no

# Unit tests and the CLI (run, mem, a short --rpc session) under memcheck; pytest is not traced.
# `run` exits 1 on proj_fail (tests failed, like pytest); memcheck errors exit 99.
valgrind: deps
	@$(MAKE) --no-print-directory BUILD=build/vg OPT="-O0 -g" all $(UNIT_SRC:tests/unit/%.c=build/vg/unit/%)
	@set -e; $(TEST_TMPDIR); for t in $(UNIT_SRC:tests/unit/%.c=build/vg/unit/%); do \
	    echo "== valgrind $$t"; PYTESTMON_SRCDIR=$(CURDIR) PYTESTMON_BIN=$(CURDIR)/build/vg/pytestmon \
	    $(VALGRIND) $$t; done
	@echo "== valgrind pytestmon run --json (proj_fail)"; rc=0; \
	    $(VALGRIND) build/vg/pytestmon run --json --python $(PYTHON) --cwd tests/fixtures/proj_fail \
	    >build/vg/run.json || rc=$$?; \
	    if [ $$rc -ne 0 ] && [ $$rc -ne 1 ]; then echo "!!! valgrind: run exited $$rc"; exit 1; fi
	@echo "== valgrind pytestmon mem --json"; $(VALGRIND) build/vg/pytestmon mem --json >build/vg/mem.json
	@echo "== valgrind pytestmon --rpc (ping, version, mem, run proj_pass, history, stdin EOF)"; \
	    $(PYTHON) tests/fuzz/rpc_session.py tests/fixtures $(VALGRIND) build/vg/pytestmon --rpc
	@echo "valgrind: OK"

demo: deps all
	@sh examples/demo.sh

demo-ui: deps all
	@sh examples/demo-ui.sh

# libFuzzer harnesses of tests/fuzz/ (clang): replay tests/fuzz/regressions/, then fuzz each
# for FUZZ_SECONDS on a copy of the seed corpus in build/fuzz/. See tests/fuzz/README.md.
FUZZ_SECONDS ?= 60
fuzz: deps
	@FUZZ_SECONDS=$(FUZZ_SECONDS) sh tools/fuzz.sh all

# Benchmarks (see the docstring of bench/run.py): one run, alternated pairs, MET/MISS per target.
# BENCH_QUICK=1 for a short smoke run. Suites are generated under $(BUILD)/bench/.
BENCH_CFLAGS = $(CFLAGS_ALL)
$(BUILD)/bench/junit_bench: bench/junit_bench.c bench/benchutil.h $(BUILD)/libpytestmon.a
	@mkdir -p $(@D)
	$(CC) $(BENCH_CFLAGS) $< $(BUILD)/libpytestmon.a $(LDLIBS_ALL) -o $@

$(BUILD)/bench/sax_floor: bench/sax_floor.c bench/benchutil.h
	@mkdir -p $(@D)
	$(CC) $(BENCH_CFLAGS) $< $(LDLIBS_ALL) -o $@

$(BUILD)/bench/procmem_bench: bench/procmem_bench.c bench/benchutil.h $(BUILD)/libpytestmon.a
	@mkdir -p $(@D)
	$(CC) $(BENCH_CFLAGS) $< $(BUILD)/libpytestmon.a $(LDLIBS_ALL) -o $@

$(BUILD)/bench/graph_bench: bench/graph_bench.c bench/benchutil.h $(BUILD)/libpytestmon.a
	@mkdir -p $(@D)
	$(CC) $(BENCH_CFLAGS) $< $(BUILD)/libpytestmon.a $(LDLIBS_ALL) -o $@

bench: $(BIN) $(BUILD)/bench/junit_bench $(BUILD)/bench/sax_floor $(BUILD)/bench/procmem_bench $(BUILD)/bench/graph_bench
	$(PYTHON) bench/run.py

# 1000 consecutive :PytestRun in a headless nvim; fails on RSS growth, fd change, leftovers.
soak: $(BIN)
	@sh tools/soak.sh

clean:
	rm -rf build doc/tags
