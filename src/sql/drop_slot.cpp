// bw_drop_slot: forget a stopped worker's position, so that its next start takes a new snapshot.
// It drops the worker's own slot only, never another bottledwater slot of the database (a SQL
// consumer's): the slot named by bottledwater.slot_name as the worker of that database resolves
// it, i.e. as PostgreSQL does for a session of the bootstrap superuser in that database.
extern "C" {
#include "postgres.h"
#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_db_role_setting.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "replication/slot.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/rel.h"
}

#include "sql/database_access.h"
#include "worker/settings.h"
#include "worker/worker_state.h"

namespace bw {

namespace {

constexpr const char* kSlotSetting = "bottledwater.slot_name";

// The value ALTER DATABASE / ALTER ROLE ... SET stored for (database, role), or null.
char* stored_setting(Relation settings, Oid database, Oid role) {
    ScanKeyData keys[2];
    ScanKeyInit(&keys[0], Anum_pg_db_role_setting_setdatabase, BTEqualStrategyNumber, F_OIDEQ,
                ObjectIdGetDatum(database));
    ScanKeyInit(&keys[1], Anum_pg_db_role_setting_setrole, BTEqualStrategyNumber, F_OIDEQ,
                ObjectIdGetDatum(role));
    SysScanDesc scan =
        systable_beginscan(settings, DbRoleSettingDatidRolidIndexId, true, nullptr, 2, keys);
    char* found = nullptr;
    HeapTuple tuple = systable_getnext(scan);
    bool isnull = true;
    const Datum config = HeapTupleIsValid(tuple)
                             ? heap_getattr(tuple, Anum_pg_db_role_setting_setconfig,
                                            RelationGetDescr(settings), &isnull)
                             : (Datum)0;
    if (!isnull) {
        Datum* entries;
        int count;
        deconstruct_array(DatumGetArrayTypeP(config), TEXTOID, -1, false, TYPALIGN_INT, &entries,
                          nullptr, &count);
        const size_t prefix = strlen(kSlotSetting);
        for (int i = 0; i < count; i++) {
            char* entry = TextDatumGetCString(entries[i]);
            if (pg_strncasecmp(entry, kSlotSetting, prefix) == 0 && entry[prefix] == '=')
                found = pstrdup(entry + prefix + 1);
        }
    }
    systable_endscan(scan);
    return found;
}

// The server-wide value, as postgresql.conf and ALTER SYSTEM give it to every new process, or
// null. This session's own value cannot serve: its database and role settings may override it.
char* server_wide_setting() {
    ConfigVariable* head = nullptr;
    ConfigVariable* tail = nullptr;
    (void)ParseConfigFile(ConfigFileName, true, nullptr, 0, 0, LOG, &head, &tail);
    (void)ParseConfigFile(PG_AUTOCONF_FILENAME, false, nullptr, 0, 0, LOG, &head, &tail);
    char* found = nullptr;
    for (ConfigVariable* item = head; item != nullptr; item = item->next) {
        if (pg_strcasecmp(item->name, kSlotSetting) == 0) found = pstrdup(item->value);
    }
    FreeConfigVariables(head);
    return found;
}

// bottledwater.slot_name as the worker of `database` sees it, or null where nothing sets it. In
// the order PostgreSQL applies them at connection (process_settings): the first one set wins.
char* configured_slot_name(Oid database) {
    const struct {
        Oid database;
        Oid role;
    } levels[] = {{database, BOOTSTRAP_SUPERUSERID},
                  {InvalidOid, BOOTSTRAP_SUPERUSERID},
                  {database, InvalidOid},
                  {InvalidOid, InvalidOid}};
    Relation settings = table_open(DbRoleSettingRelationId, AccessShareLock);
    char* name = nullptr;
    for (const auto& level : levels) {
        name = stored_setting(settings, level.database, level.role);
        if (name != nullptr) break;
    }
    table_close(settings, AccessShareLock);
    return name != nullptr ? name : server_wide_setting();
}

void require_worker_stopped(const char* dbname) {
    LWLockAcquire(worker_states->lock, LW_SHARED);
    WorkerState* state = find_worker_state(dbname);
    const bool running = state != nullptr && state->pid != 0;
    LWLockRelease(worker_states->lock);
    if (running)
        ereport(ERROR, (errcode(ERRCODE_OBJECT_IN_USE),
                        errmsg("the bottledwater worker of database \"%s\" is running", dbname),
                        errhint("Stop it first: SELECT bw_stop(%s);",
                                quote_literal_cstr(dbname))));
}

}  // namespace

}  // namespace bw

using namespace bw;

extern "C" {

PG_FUNCTION_INFO_V1(bw_drop_slot);
Datum bw_drop_slot(PG_FUNCTION_ARGS) {
    const char* dbname = NameStr(*PG_GETARG_NAME(0));
    require_preloaded();
    const Oid database = require_database_access(dbname);
    require_worker_stopped(dbname);
    // SETOF name: a scalar result, described by the call's expected tuple.
    InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
    ReturnSetInfo* rsinfo = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);

    char slot_name[NAMEDATALEN];
    resolve_slot_name(configured_slot_name(database), database, dbname, slot_name);
    LWLockAcquire(ReplicationSlotControlLock, LW_SHARED);
    ReplicationSlot* slot = SearchNamedReplicationSlot(slot_name, false);
    const bool exists = slot != nullptr;
    const bool ours = exists && slot->data.database == database &&
                      strcmp(NameStr(slot->data.plugin), "bottledwater") == 0;
    LWLockRelease(ReplicationSlotControlLock);
    if (!exists) {
        ereport(NOTICE, (errmsg("bottledwater: database \"%s\" has no worker slot \"%s\"",
                                dbname, slot_name)));
        return (Datum)0;
    }
    if (!ours)
        ereport(ERROR,
                (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                 errmsg("replication slot \"%s\" is not a bottledwater slot of database \"%s\"",
                        slot_name, dbname),
                 errhint("bottledwater.slot_name names another database's or plugin's slot; "
                         "drop it with pg_drop_replication_slot if that is what you want.")));
    // Errors, and drops nothing, if a SQL consumer holds the slot at this moment.
    ReplicationSlotDrop(slot_name, true);
    Datum value = DirectFunctionCall1(namein, CStringGetDatum(slot_name));
    bool isnull = false;
    tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &value, &isnull);
    return (Datum)0;
}

}  // extern "C"
