# bottledwater: one shared library that is both a logical-decoding output plugin and a
# background worker producing to Kafka.  Built with PGXS; `make installcheck` runs pg_regress
# on a throwaway instance (see REGRESS_OPTS), so no running server is needed.

EXTENSION = bottledwater
# The control file's default_version is the one home of the version (META.json must agree, see
# test/test_packaging.py).
EXTVERSION := $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" $(CURDIR)/bottledwater.control)
MODULE_big = bottledwater
# Every released version's install script and the upgrade scripts between them.
DATA = $(wildcard sql/bottledwater--*.sql)

# Pure C++ core: never sees PostgreSQL's headers (enforced below by compiling it without them).
PURE_DIRS = src/schema src/encode src/produce src/acknowledge src/deliver src/registry \
	src/snapshot
# PostgreSQL-facing layer: module init, SQL functions, decoder callbacks, the worker.
PG_DIRS = src src/decode src/worker src/sql

PURE_SRCS = $(foreach d,$(PURE_DIRS),$(wildcard $(d)/*.cpp))
PG_SRCS = $(foreach d,$(PG_DIRS),$(wildcard $(d)/*.cpp))
OBJS = $(PG_SRCS:.cpp=.o) $(PURE_SRCS:.cpp=.o)

REGRESS = $(patsubst sql/%.sql,%,$(filter-out $(DATA),$(sort $(wildcard sql/*.sql))))
# pg_regress refuses to run as root; scripts/test runs it as postgres with a REGRESS_DIR of its own.
REGRESS_DIR ?= $(CURDIR)/regress_out
REGRESS_OPTS = --temp-instance=$(REGRESS_DIR)/tmp_check --outputdir=$(REGRESS_DIR) \
	--temp-config=$(CURDIR)/test/regress.conf --load-extension=bottledwater \
	$(if $(HAS_OUTPUT_PLUGIN_LIBRARIES),--temp-config=$(CURDIR)/test/regress-output-plugin-libraries.conf)
# output_plugin_libraries exists only in some builds of PostgreSQL (a stock server refuses it in
# postgresql.conf); the server says which kind it is. bindir is known once PGXS is included.
HAS_OUTPUT_PLUGIN_LIBRARIES = $(shell $(bindir)/postgres --describe-config 2>/dev/null | \
	cut -f1 | grep -x output_plugin_libraries)

# Debian's server is built with LLVM; bitcode for JIT inlining buys nothing for this module.
override with_llvm = no

PG_CONFIG ?= pg_config
PG_CPPFLAGS = -I$(CURDIR)/src -DBW_VERSION='"$(EXTVERSION)"'
# The extension's own C++ flags, kept apart from the CXXFLAGS it inherits from the server's build
# (see below) and appended after them, so that ours win.
BW_CXXFLAGS = -std=c++17 -Wextra -Werror -Wno-register -Wno-missing-field-initializers \
	-Wno-unused-parameter -Wno-cast-function-type -MMD -MP
SHLIB_LINK = -lrdkafka -lavro -lcurl -lstdc++

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# The inherited compiler flags were chosen by the server's configure for the compilers it was
# built with; a server built with a newer gcc carries flags these refuse (-fexcess-precision=standard
# for g++ before 13, -Wmissing-variable-declarations for gcc before 14). Each inherited flag is
# kept only if the compiler at hand accepts it (a warning about a flag is no refusal:
# -Wformat-security alone only warns that it needs -Wformat). CFLAGS matter too: PGXS links the
# library with the C compiler and its flags.
refused_flags = $(foreach flag,$(sort $(filter -%,$(3))),\
	$(shell $(1) $(flag) -x $(2) -fsyntax-only /dev/null >/dev/null 2>&1 || echo '$(flag)'))
override CXXFLAGS := $(filter-out $(call refused_flags,$(CXX),c++,$(CXXFLAGS)),$(CXXFLAGS)) \
	$(BW_CXXFLAGS)
override CFLAGS := $(filter-out $(call refused_flags,$(CC),c,$(CFLAGS)),$(CFLAGS))

# Objects built against one server's headers must never be linked for another: they all depend
# on a stamp naming the server (and the release, which bw_version() reports), rewritten whenever
# PG_CONFIG points at a different one.
BUILT_FOR := $(VERSION) $(includedir_server) $(EXTVERSION)
$(shell [ "$$(cat .built-for 2>/dev/null)" = '$(BUILT_FOR)' ] || echo '$(BUILT_FOR)' > .built-for)
$(OBJS): .built-for

$(PURE_SRCS:.cpp=.o): CPPFLAGS = -I$(CURDIR)/src

# Header dependencies: a changed class layout must rebuild every object that uses it.
EXTRA_CLEAN = $(OBJS:.o=.d) .built-for
-include $(OBJS:.o=.d)

# The PGXN distribution: the committed tree under one top directory named for the release, as
# `pgxn install` and the PGXN upload expect.
DIST = $(EXTENSION)-$(EXTVERSION).zip
.PHONY: dist
dist:
	git -C $(CURDIR) archive --format=zip --prefix=$(EXTENSION)-$(EXTVERSION)/ -o $(CURDIR)/$(DIST) HEAD
EXTRA_CLEAN += $(DIST)

UNIT_MAKE = $(CURDIR)/test/unit/Makefile.unit
.PHONY: unittest
unittest:
	$(MAKE) -f $(UNIT_MAKE)
