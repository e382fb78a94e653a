// Module entry: the library's magic block and _PG_init. Configuration (GUCs) is defined in every
// process that loads the library; the workers' shared state and their launcher only when the
// library is preloaded, the one moment PostgreSQL lets an extension ask for shared memory.
extern "C" {
#include "postgres.h"
#include "fmgr.h"
#include "miscadmin.h"
}

#include "sql/drop_guard.h"
#include "worker/launcher.h"
#include "worker/settings.h"
#include "worker/worker_state.h"

extern "C" {

PG_MODULE_MAGIC;

PGDLLEXPORT void _PG_init(void) {
    bw::define_settings();
    if (!process_shared_preload_libraries_in_progress) return;
    bw::install_shmem_hooks();
    bw::register_launcher();
    bw::install_drop_guard();
}

}  // extern "C"
