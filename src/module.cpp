// Module entry: the library's magic block and _PG_init. Configuration (GUCs) and, when preloaded,
// the shared state and launcher of the background workers are set up here.
extern "C" {
#include "postgres.h"
#include "fmgr.h"
#include "miscadmin.h"
}

extern "C" {

PG_MODULE_MAGIC;

PGDLLEXPORT void _PG_init(void) {}

}  // extern "C"
