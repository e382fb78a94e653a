// The ProcessUtility hook of drop_guard.h. It only inspects DropdbStmt and DROP EXTENSION and
// passes every statement on. Without it, PostgreSQL refuses DROP DATABASE of a database whose
// slot is held with no word of bw_stop, and accepts it while the worker waits for a restart (or
// until the next server start), after which the worker fails to connect again and again.
#include "sql/drop_guard.h"

extern "C" {
#include "postgres.h"
#include "commands/dbcommands.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
}

#include "worker/autostart.h"
#include "worker/worker_state.h"

namespace bw {

namespace {

ProcessUtility_hook_type previous_process_utility = nullptr;

// A worker runs for it, or will run: bw_start listed it and bw_stop has not taken it off.
bool is_streamed(const char* dbname) {
    LWLockAcquire(worker_states->lock, LW_SHARED);
    const WorkerState* state = find_worker_state(dbname);
    const bool running = state != nullptr && state->pid != 0;
    LWLockRelease(worker_states->lock);
    return running || autostart_contains(dbname);
}

void refuse_drop_database(const char* dbname) {
    if (!is_streamed(dbname)) return;
    ereport(ERROR,
            (errcode(ERRCODE_OBJECT_IN_USE),
             errmsg("database \"%s\" is streamed to Kafka by bottledwater", dbname),
             errdetail("Its worker holds the database's replication slot and starts again after "
                       "every failure and server restart."),
             errhint("Stop the worker first: SELECT bw_stop(%s); DROP DATABASE then drops its "
                     "slot with it.",
                     quote_literal_cstr(dbname))));
}

void refuse_drop_extension(const DropStmt* stmt) {
    ListCell* cell;
    foreach (cell, stmt->objects) {
        if (strcmp(strVal(lfirst(cell)), "bottledwater") != 0) continue;
        const char* dbname = get_database_name(MyDatabaseId);
        if (!is_streamed(dbname)) return;
        const char* literal = quote_literal_cstr(dbname);
        ereport(ERROR,
                (errcode(ERRCODE_OBJECT_IN_USE),
                 errmsg("database \"%s\" is streamed to Kafka by bottledwater", dbname),
                 errdetail("Without the extension its worker could not be stopped or watched "
                           "from this database."),
                 errhint("Stop the worker first: SELECT bw_stop(%s); and SELECT bw_drop_slot(%s); "
                         "if its stream is not to be resumed.",
                         literal, literal)));
    }
}

void guard_drops(PlannedStmt* pstmt, const char* query_string, bool read_only_tree,
                 ProcessUtilityContext context, ParamListInfo params, QueryEnvironment* query_env,
                 DestReceiver* dest, QueryCompletion* qc) {
    const Node* statement = pstmt->utilityStmt;
    if (IsA(statement, DropdbStmt))
        refuse_drop_database(reinterpret_cast<const DropdbStmt*>(statement)->dbname);
    else if (IsA(statement, DropStmt) &&
             reinterpret_cast<const DropStmt*>(statement)->removeType == OBJECT_EXTENSION)
        refuse_drop_extension(reinterpret_cast<const DropStmt*>(statement));
    if (previous_process_utility != nullptr)
        previous_process_utility(pstmt, query_string, read_only_tree, context, params, query_env,
                                 dest, qc);
    else
        standard_ProcessUtility(pstmt, query_string, read_only_tree, context, params, query_env,
                                dest, qc);
}

}  // namespace

void install_drop_guard() {
    previous_process_utility = ProcessUtility_hook;
    ProcessUtility_hook = guard_drops;
}

}  // namespace bw
