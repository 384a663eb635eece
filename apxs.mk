# apxs.mk - builds mod_oauth2: a static core library (core + policy, plain C),
# the Apache module linked against it with apxs, the oauth2-policy CLI, and
# the unit, sanitizer and fuzz builds. Included by the top-level Makefile.
#
# Sources are found by wildcard: a new core file needs no edit here.

APXS      ?= apxs
CC        ?= cc
CLANG     ?= clang
PYTHON    ?= /usr/bin/python3
BUILD     ?= build
PKGS      := apr-1 apr-util-1 openssl jansson hiredis lua5.4 libcurl

# Evaluated lazily: `make deps` may have just installed pkg-config files.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN      := -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
             -Wno-unused-parameter -Wformat=2
OPT       ?= -O2 -g
CFLAGS_CORE = $(WARN) $(OPT) -fPIC -fvisibility=hidden -Iinclude $(PKG_CFLAGS)

CORE_SRC   := $(wildcard mod_oauth2/core/*.c)
POLICY_SRC := $(filter-out mod_oauth2/policy/cli.c,$(wildcard mod_oauth2/policy/*.c))
APACHE_SRC := $(wildcard mod_oauth2/apache/*.c)
LIB_SRC    := $(CORE_SRC) $(POLICY_SRC)
HEADERS    := $(wildcard include/oauth2/*.h mod_oauth2/core/*.h mod_oauth2/policy/*.h)

LIB_OBJ    := $(patsubst %.c,$(BUILD)/%.o,$(LIB_SRC))
CORE_LIB   := $(BUILD)/libmodoauth2core.a
MODULE     := $(BUILD)/mod_oauth2.so
POLICY_CLI := $(BUILD)/oauth2-policy

UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNIT_BIN   := $(patsubst tests/unit/%.c,$(BUILD)/unit/%,$(UNIT_SRC))
ASAN_DIR   := $(BUILD)/asan
ASAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all \
              -fno-omit-frame-pointer
FUZZ_SRC   := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN   := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRC))
FUZZ_SECONDS ?= 300

.PHONY: all module cli unit asan integration check-tools test test-only \
        fuzz fuzz-smoke fuzz-run-smoke valgrind demo bench lint \
        install deps clean

all: module $(if $(wildcard mod_oauth2/policy/cli.c),cli)

module: $(MODULE)
cli: $(POLICY_CLI)

$(BUILD)/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_CORE) -c -o $@ $<

$(CORE_LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

# apxs compiles the adapter with httpd's flags and links the core archive.
# -fvisibility=hidden leaves only the module record exported (it carries
# visibility("default")), so Debian's liboauth2 names can never clash.
$(MODULE): $(APACHE_SRC) $(wildcard mod_oauth2/apache/*.h) $(CORE_LIB)
	@mkdir -p $(BUILD)/apxs
	cp $(APACHE_SRC) $(wildcard mod_oauth2/apache/*.h) $(BUILD)/apxs/
	cd $(BUILD)/apxs && $(APXS) -c -o mod_oauth2.la \
	    $(foreach f,$(WARN) -fvisibility=hidden -I$(CURDIR)/include $(PKG_CFLAGS),-Wc,$(f)) \
	    $(notdir $(APACHE_SRC)) $(CURDIR)/$(CORE_LIB) $(PKG_LIBS) >apxs.log 2>&1 \
	    || { cat apxs.log; exit 1; }
	cp $(BUILD)/apxs/.libs/mod_oauth2.so $@

$(POLICY_CLI): mod_oauth2/policy/cli.c $(CORE_LIB)
	$(CC) $(CFLAGS_CORE) -o $@ $< $(CORE_LIB) $(PKG_LIBS) -lm

# ---- unit tests (cmocka), plain and under ASan+UBSan ----------------------
$(BUILD)/unit/%: tests/unit/%.c tests/unit/helpers.c tests/unit/helpers.h $(CORE_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_CORE) -Itests/unit -o $@ $< tests/unit/helpers.c \
	    $(CORE_LIB) $(PKG_LIBS) -lcmocka -lm

unit: $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do echo "== $$t"; \
	    OAUTH2_TEST_DIR=$(CURDIR)/tests/unit $$t; done

asan:
	$(MAKE) --no-print-directory BUILD=$(ASAN_DIR) \
	    OPT="-O1 -g $(ASAN_FLAGS)" unit

# ---- integration tests (pytest from Debian) -------------------------------
# From the repo root; tests/mock_provider joins once it exists.
integration: all
	OAUTH2_MODULE=$(CURDIR)/$(MODULE) \
	    OAUTH2_POLICY_CLI=$(CURDIR)/$(POLICY_CLI) \
	    $(PYTHON) -m pytest -q -p no:cacheprovider tests/integration \
	    $(wildcard tests/mock_provider) $(PYTEST_ARGS)

check-tools: all
	@for s in tests/tools/check_*.sh; do echo "== $$s"; \
	    MODULE=$(MODULE) bash $$s || exit 1; done

# Everything README promises: dependencies, build, static checks, unit tests
# plain and sanitized, integration tests. Non-zero on any failure.
test:
	$(MAKE) --no-print-directory deps
	$(MAKE) --no-print-directory test-only

test-only: all check-tools unit asan fuzz-smoke integration

# ---- fuzzing (clang libFuzzer) --------------------------------------------
# The core is compiled once with coverage and ASan+UBSan (UBSan aborts) into
# its own archive; each target links it with libFuzzer's main. New inputs go
# to a scratch first corpus directory: tests/fuzz/corpus/<name> is only read.
FUZZ_SAN   := -fsanitize=address,undefined -fno-sanitize-recover=all \
              -fno-omit-frame-pointer
FUZZ_CFLAGS = -std=c11 -g -O1 $(FUZZ_SAN) -Iinclude $(PKG_CFLAGS)
FUZZ_OBJ   := $(patsubst %.c,$(BUILD)/fuzzobj/%.o,$(LIB_SRC))
FUZZ_LIB   := $(BUILD)/fuzzobj/libcore-fuzz.a
FUZZ_SMOKE_SECONDS ?= 8
FUZZ_ENV   := ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
              UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

$(BUILD)/fuzzobj/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_LIB): $(FUZZ_OBJ)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/fuzz/%: tests/fuzz/%.c tests/fuzz/fuzz_common.h $(FUZZ_LIB)
	@mkdir -p $(dir $@)
	$(CLANG) $(FUZZ_CFLAGS) -Wall -Wextra -Werror -Wno-unused-parameter \
	    -fsanitize=fuzzer -o $@ $< $(FUZZ_LIB) \
	    $(PKG_LIBS) -lm

# run_fuzz SECONDS SCRATCH: every target, stop at the first failure; the
# crashing input is kept in $(BUILD)/fuzz-artifacts/.
define run_fuzz
	@set -e; mkdir -p $(BUILD)/fuzz-artifacts; \
	for f in $(FUZZ_BIN); do n=$$(basename $$f); c=$${n#fuzz_}; \
	    mkdir -p $(2)/$$c tests/fuzz/corpus/$$c; \
	    if ! $(FUZZ_ENV) $$f -max_total_time=$(1) -timeout=10 \
	        -print_final_stats=1 \
	        -artifact_prefix=$(CURDIR)/$(BUILD)/fuzz-artifacts/$$n- \
	        $(2)/$$c tests/fuzz/corpus/$$c >$(2)/$$n.log 2>&1; then \
	        tail -n 60 $(2)/$$n.log; echo "FAIL: $$n"; exit 1; fi; \
	    printf '%-22s %s execs\n' $$n \
	        "$$(sed -n 's/^stat::number_of_executed_units: *//p' $(2)/$$n.log)"; \
	done
endef

fuzz: $(FUZZ_BIN)
	$(call run_fuzz,$(FUZZ_SECONDS),$(BUILD)/fuzz-corpus)

# About two minutes for all targets together; the scratch corpus is removed.
fuzz-smoke: $(FUZZ_BIN)
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	$(MAKE) --no-print-directory fuzz-run-smoke FUZZ_TMP=$$tmp

fuzz-run-smoke:
	$(call run_fuzz,$(FUZZ_SMOKE_SECONDS),$(FUZZ_TMP))

# ---- valgrind memcheck over the unit binaries ------------------------------
# Definite leaks and every memory error fail; APR pools and OpenSSL/jansson
# one-time allocations are "still reachable" and not counted.
VALGRIND ?= valgrind
valgrind: $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do echo "== valgrind $$t"; \
	    OAUTH2_TEST_DIR=$(CURDIR)/tests/unit $(VALGRIND) -q \
	    --error-exitcode=99 --leak-check=full --show-leak-kinds=definite \
	    --errors-for-leak-kinds=definite $$t >/dev/null; done

# ---- demo, bench, lint, install -------------------------------------------
demo:
	$(MAKE) --no-print-directory deps
	$(MAKE) --no-print-directory all
	OAUTH2_MODULE=$(CURDIR)/$(MODULE) $(PYTHON) tests/tools/demo.py

bench: all
	$(PYTHON) bench/bench.py --module $(CURDIR)/$(MODULE)

lint:
	clang-format --dry-run -Werror $(LIB_SRC) $(APACHE_SRC) \
	    $(wildcard mod_oauth2/policy/cli.c) $(HEADERS)

# `make install [DESTDIR=/staging]`: the module through apxs (no -a: enable
# it with a2enmod oauth2), Debian-style oauth2.load/oauth2.conf into
# mods-available, the policy helper library where OAUTH2_POLICY_LIB_DIR
# (include/oauth2/policy.h) points, and the oauth2-policy CLI.
PREFIX          ?= /usr/local
APACHE_LIBEXEC  ?= $(shell $(APXS) -q LIBEXECDIR 2>/dev/null)
APACHE_MODS_AVAILABLE ?= /etc/apache2/mods-available
POLICY_LIB_DIR  ?= $(shell sed -n 's/^\#define OAUTH2_POLICY_LIB_DIR "\(.*\)"/\1/p' \
                     include/oauth2/policy.h)

install: all
	install -d $(DESTDIR)$(APACHE_LIBEXEC) $(DESTDIR)$(PREFIX)/bin \
	    $(DESTDIR)$(APACHE_MODS_AVAILABLE) $(DESTDIR)$(POLICY_LIB_DIR)/oauth2
	$(APXS) -i -S LIBEXECDIR=$(DESTDIR)$(APACHE_LIBEXEC) -n oauth2 $(MODULE)
	install -m 0644 conf/oauth2.load conf/oauth2.conf \
	    $(DESTDIR)$(APACHE_MODS_AVAILABLE)/
	install -m 0644 policies/oauth2/*.lua $(DESTDIR)$(POLICY_LIB_DIR)/oauth2/
	install -m 0755 $(POLICY_CLI) $(DESTDIR)$(PREFIX)/bin/oauth2-policy

# Installs the Debian packages that are missing; a no-op when all are there.
deps:
	@bash tests/tools/deps.sh

clean:
	rm -rf $(BUILD)
