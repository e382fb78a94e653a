# bottledwater: one shared library that is both a logical-decoding output plugin and a
# background worker producing to Kafka.  Built with PGXS; `make installcheck` runs pg_regress
# on a throwaway instance (see REGRESS_OPTS), so no running server is needed.

EXTENSION = bottledwater
EXTVERSION = 0.2.0
MODULE_big = bottledwater
# Every released version's install script and the upgrade scripts between them.
DATA = $(wildcard sql/bottledwater--*.sql)

# Pure C++ core: never sees PostgreSQL's headers (enforced below by compiling it without them).
PURE_DIRS = src/schema src/encode src/produce src/acknowledge src/registry
# PostgreSQL-facing layer: module init, SQL functions, decoder callbacks, the worker.
PG_DIRS = src src/decode src/worker src/sql

PURE_SRCS = $(foreach d,$(PURE_DIRS),$(wildcard $(d)/*.cpp))
PG_SRCS = $(foreach d,$(PG_DIRS),$(wildcard $(d)/*.cpp))
OBJS = $(PG_SRCS:.cpp=.o) $(PURE_SRCS:.cpp=.o)

REGRESS = $(patsubst sql/%.sql,%,$(filter-out $(DATA),$(sort $(wildcard sql/*.sql))))
# pg_regress refuses to run as root; scripts/test runs it as postgres with a REGRESS_DIR of its own.
REGRESS_DIR ?= $(CURDIR)/regress_out
REGRESS_OPTS = --temp-instance=$(REGRESS_DIR)/tmp_check --outputdir=$(REGRESS_DIR) \
	--temp-config=$(CURDIR)/test/regress.conf --load-extension=bottledwater

# Debian's server is built with LLVM; bitcode for JIT inlining buys nothing for this module.
override with_llvm = no

PG_CONFIG ?= pg_config
PG_CPPFLAGS = -I$(CURDIR)/src
PG_CXXFLAGS = -std=c++17 -Wextra -Werror -Wno-register -Wno-missing-field-initializers \
	-Wno-unused-parameter -Wno-cast-function-type -MMD -MP
SHLIB_LINK = -lrdkafka -lavro -lcurl -lstdc++

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

$(PURE_SRCS:.cpp=.o): CPPFLAGS = -I$(CURDIR)/src

# Header dependencies: a changed class layout must rebuild every object that uses it.
EXTRA_CLEAN = $(OBJS:.o=.d)
-include $(OBJS:.o=.d)

UNIT_MAKE = $(CURDIR)/test/unit/Makefile.unit
.PHONY: unittest
unittest:
	$(MAKE) -f $(UNIT_MAKE)
