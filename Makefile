# cachepusher: built by PGXS. Only what differs from a plain C extension is said here.
EXTENSION = cachepusher
MODULE_big = cachepusher
DATA = cachepusher--1.0.sql cachepusher--1.1.sql cachepusher--1.2.sql cachepusher--1.3.sql cachepusher--1.4.sql cachepusher--1.5.sql cachepusher--1.6.sql cachepusher--1.7.sql cachepusher--1.8.sql cachepusher--1.0--1.1.sql cachepusher--1.1--1.2.sql cachepusher--1.2--1.3.sql cachepusher--1.3--1.4.sql cachepusher--1.4--1.5.sql cachepusher--1.5--1.6.sql cachepusher--1.6--1.7.sql cachepusher--1.7--1.8.sql
OBJS = $(patsubst %.cpp,%.o,$(wildcard src/*.cpp))

PG_CONFIG ?= pg_config
PG_CPPFLAGS = -I$(srcdir)/src $(PG_CPPFLAGS_TLS)
# -Wno-register: PostgreSQL 15 headers still use the C "register" keyword.
PG_CXXFLAGS = -std=c++17 -Wall -Wextra -Wno-register -Wno-missing-field-initializers -Wno-unused-parameter
# make WERROR=1: every warning fails the build (for CI builds).
ifdef WERROR
PG_CXXFLAGS += -Werror
endif
SHLIB_LINK = -lhiredis -lstdc++
# TLS to Redis needs hiredis >= 1.0 with hiredis_ssl (Debian trixie and later; bookworm's 0.14 has
# none) and OpenSSL's headers. Without them the extension is built without TLS (redis_tls.hpp).
# make TLS=0 builds without TLS even where it could be had.
HIREDIS_SSL_HEADER = $(firstword $(wildcard $(addsuffix /hiredis/hiredis_ssl.h,/usr/include /usr/local/include)))
ifneq ($(TLS),0)
ifneq ($(HIREDIS_SSL_HEADER),)
ifneq ($(wildcard /usr/include/openssl/ssl.h),)
PG_CPPFLAGS_TLS = -DCACHEPUSHER_TLS
SHLIB_LINK += -lhiredis_ssl -lssl -lcrypto
endif
endif
endif

# pg_regress covers the SQL surface on a throwaway instance; it needs no running server.
REGRESS = api update security
REGRESS_OPTS = --temp-instance=tmp_regress

# TAP tests need the worker preloaded and a real redis-server; see test/README.md.
TAP_TESTS = 1
PROVE_TESTS = $(sort $(wildcard test/t/*.pl))

EXTRA_CLEAN = tmp_regress tmp_check tmp_unit tmp_unit-sanitized results regression.diffs regression.out src/*.d

# make SANITIZE=1: the extension built with AddressSanitizer and UndefinedBehaviorSanitizer, for a
# server started with the ASan runtime preloaded (test/run-sanitized). No JIT bitcode: clang would
# get the sanitizer flags too, and JIT-inlined code of ours would run uninstrumented anyway.
ifdef SANITIZE
override with_llvm = no
SANITIZER_FLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer
SHLIB_LINK += $(SANITIZER_FLAGS)
endif

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# Debian's server is built with LLVM, so PGXS also emits JIT bitcode with clang, which
# neither defaults to C++17 nor sees PG_CXXFLAGS.
COMPILE.cxx.bc += $(PG_CXXFLAGS)

# Makefile.global resets PROVE_FLAGS, so the tests' own Perl modules are added after it.
PROVE_FLAGS += -I $(srcdir)/test/perl
# make installcheck TAP_JOBS=N: N TAP files at a time (test/run sets it; each file has its own ports).
PROVE_FLAGS += --timer $(if $(TAP_JOBS),-j$(TAP_JOBS))

# PGXS tracks header dependencies only for C: let g++ write them, so a changed header rebuilds every
# object that includes it (a stale object would disagree with the others about a struct's layout).
override CXXFLAGS += -MMD -MP $(SANITIZER_FLAGS)
-include $(OBJS:.o=.d)

# make unit: the unit tests of the modules that are plain C++ (each includes src/cpp_only.hpp), built
# without PostgreSQL's headers and run at once; test/run runs them before the end-to-end tests.
UNIT_MODULES = cluster_slot notification_payload distinct_keys pending_keys backoff log_window sync_tracker document_cost json_fields value_type composite_key
UNIT_DIR = tmp_unit$(if $(SANITIZE),-sanitized)
UNIT_OBJS = $(patsubst %,$(UNIT_DIR)/src/%.o,$(UNIT_MODULES)) \
	$(patsubst $(srcdir)/%.cpp,$(UNIT_DIR)/%.o,$(wildcard $(srcdir)/test/unit/*.cpp))
UNIT_CXXFLAGS = -std=c++17 -g -O1 -Wall -Wextra $(if $(WERROR),-Werror) -I$(srcdir)/src -MMD -MP $(SANITIZER_FLAGS)

.PHONY: unit
unit: $(UNIT_DIR)/unit_tests
	$(UNIT_DIR)/unit_tests --gtest_brief=1

$(UNIT_DIR)/unit_tests: $(UNIT_OBJS)
	$(CXX) $(UNIT_CXXFLAGS) -o $@ $^ -lgtest -lgtest_main -pthread

$(UNIT_DIR)/%.o: $(srcdir)/%.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(UNIT_CXXFLAGS) -c -o $@ $<

-include $(UNIT_OBJS:.o=.d)

# make format: clang-format (.clang-format, the style the code is written in) on the lines changed
# since FORMAT_BASE, in the work tree; lines nobody changed stay as they are.
FORMAT_BASE ?= main
.PHONY: format
format:
	git clang-format --style=file $(FORMAT_BASE) -- '*.cpp' '*.hpp' '*.c' '*.h'
