// The worker's incremental snapshots (see incremental_snapshot.h). The queue and each table's
// progress live in the extension's table bw_snapshot_progress, which the capture set leaves
// out: the worker's own writes to it are WAL it decodes. One chunk per table is on its way at a
// time: read, held by the ChunkReconciler until its watermark is decoded, sent, acknowledged, its
// position written (the next table may begin once its last chunk is sent). The table's next
// chunk is read while Kafka acknowledges the one before, so that reading and delivery overlap,
// but held without a watermark, unsent, until that acknowledgement: a crash therefore sends at
// most one chunk per table again, and the stream never waits for more than one chunk's read.
#include "worker/incremental_snapshot.h"

extern "C" {
#include "access/xact.h"
#include "utils/inval.h"
#include "utils/syscache.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "replication/message.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
}

#include <string>
#include <unordered_set>
#include <vector>

#include "pg_boundary.h"
#include "snapshot/chunk_reconciler.h"
#include "worker/chunk_reader.h"
#include "worker/settings.h"

namespace bw {

namespace {

// Heap objects for the life of the process, never stack objects an ERROR's longjmp would skip.
ChunkReconciler* reconciler = nullptr;
SnapshotChunk* reading = nullptr;
// Of the table being snapshotted: its last acknowledged chunk's, and where its next read starts
// (past the last chunk read, which may not be acknowledged yet).
std::vector<std::string>* position = nullptr;
std::vector<std::string>* read_position = nullptr;
WorkerState* my_state = nullptr;
void (*send_queued_changes)() = nullptr;
// The slot and this process's start: a watermark of an earlier process, met again when the slot
// replays, never matches a chunk of this one.
char my_watermark_name[NAMEDATALEN + 32];

uint64 requests_seen = 0;
bool queue_read = false;  // false: read the queue again before the next chunk
Oid current = InvalidOid;  // the table being snapshotted, InvalidOid: none
uint64 chunk_number = 0;
// The chunk held is read ahead: its watermark is written once the chunk of its table before it
// is acknowledged.
bool watermark_due = false;
Oid watermark_due_request = InvalidOid;

}  // namespace

// The extension's schema, quoted, palloc'd; nullptr without the extension, or with one too old
// to have the progress table (0.1.0 until ALTER EXTENSION bottledwater UPDATE).
// Asked after every chunk: the plan is kept for the process (the plan cache replans it when the
// catalogs it read change).
static char* extension_schema() {
    static SPIPlanPtr plan = nullptr;
    if (plan == nullptr) {
        SPIPlanPtr prepared =
            SPI_prepare("SELECT pg_catalog.format('%I', n.nspname) "
                        "FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n "
                        "ON n.oid OPERATOR(pg_catalog.=) e.extnamespace "
                        "WHERE e.extname OPERATOR(pg_catalog.=) 'bottledwater' AND EXISTS ("
                        "SELECT FROM pg_catalog.pg_class c WHERE c.relnamespace "
                        "OPERATOR(pg_catalog.=) n.oid "
                        "AND c.relname OPERATOR(pg_catalog.=) 'bw_snapshot_progress')",
                        0, nullptr);
        if (prepared == nullptr || SPI_keepplan(prepared) != 0)
            elog(ERROR, "bottledwater: could not plan the extension's schema lookup");
        plan = prepared;
    }
    if (SPI_execute_plan(plan, nullptr, nullptr, true, 1) != SPI_OK_SELECT)
        elog(ERROR, "bottledwater: could not look up the extension's schema");
    if (SPI_processed == 0) return nullptr;
    return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}

char* snapshot_progress_table() {
    const char* schema = extension_schema();
    return schema ? psprintf("%s.bw_snapshot_progress", schema) : nullptr;
}

// Queues the captured tables `where` selects (a condition on c.table_name, the captured table's
// regclass, or "true"); a table already queued starts again from its first chunk. SPI connected.
static void queue_captured_tables(const char* schema, const char* where) {
    if (SPI_execute(psprintf("INSERT INTO %s.bw_snapshot_progress AS p (relid, table_name) "
                             "SELECT c.table_name, c.table_name::pg_catalog.text "
                             "FROM %s.bw_captured_tables() c WHERE %s "
                             "ON CONFLICT (relid) DO UPDATE SET state = 'queued', "
                             "rows_sent = 0, chunks = 0, chunk_position = NULL, "
                             "requested_at = pg_catalog.now(), started_at = NULL, "
                             "finished_at = NULL, error = NULL",
                             schema, schema, where),
                    false, 0) != SPI_OK_INSERT)
        elog(ERROR, "bottledwater: could not queue tables for a snapshot");
}

// The new slot streams from now on: every table is sent again.
bool queue_every_captured_table() {
    SPI_connect();
    PushActiveSnapshot(GetTransactionSnapshot());
    const char* schema = extension_schema();
    if (schema != nullptr) queue_captured_tables(schema, "true");
    PopActiveSnapshot();
    SPI_finish();
    return schema != nullptr;
}

namespace {

// The progress table is read and written in transactions of their own, with SPI connected.
void open_progress_transaction() {
    StartTransactionCommand();
    SPI_connect();
    PushActiveSnapshot(GetTransactionSnapshot());
}

void close_progress_transaction() {
    PopActiveSnapshot();
    SPI_finish();
    CommitTransactionCommand();
}

void execute(const char* sql, int nargs, Oid* types, Datum* values, const char* nulls) {
    if (SPI_execute_with_args(sql, nargs, types, values, nulls, false, 0) < 0)
        elog(ERROR, "bottledwater: could not record the progress of a snapshot");
}

Datum position_array(const std::vector<std::string>& texts) {
    Datum* items = static_cast<Datum*>(palloc(sizeof(Datum) * Max(texts.size(), 1)));
    for (size_t i = 0; i < texts.size(); i++) items[i] = CStringGetTextDatum(texts[i].c_str());
    return PointerGetDatum(construct_array(items, static_cast<int>(texts.size()), TEXTOID, -1,
                                           false, TYPALIGN_INT));
}

// A chunk read ahead, its watermark not written yet, is given up unsent.
void drop_chunk_read_ahead() {
    if (!watermark_due) return;
    watermark_due = false;
    guard_cpp("dropping a chunk read ahead", [&] { reconciler->close_unsent(); });
}

// Each chunk's rows and position; the table is done after its last chunk. A table cancelled in
// the meantime stays cancelled.
void record_acknowledged(const std::vector<SentChunk>& chunks) {
    open_progress_transaction();
    const char* table = snapshot_progress_table();
    for (const SentChunk& chunk : chunks) {
        if (chunk.discarded || table == nullptr) continue;
        Oid types[4] = {OIDOID, INT8OID, TEXTARRAYOID, BOOLOID};
        Datum values[4] = {ObjectIdGetDatum(chunk.request), Int64GetDatum(chunk.rows_sent),
                           position_array(chunk.next_position), BoolGetDatum(chunk.last)};
        const char nulls[5] = {' ', ' ', chunk.next_position.empty() ? 'n' : ' ', ' ', '\0'};
        execute(psprintf("UPDATE %s SET rows_sent = rows_sent OPERATOR(pg_catalog.+) $2, "
                         "chunks = chunks OPERATOR(pg_catalog.+) 1, "
                         "chunk_position = COALESCE($3, chunk_position), "
                         "state = CASE WHEN $4 THEN 'done' ELSE state END, "
                         "finished_at = CASE WHEN $4 THEN pg_catalog.now() END "
                         "WHERE relid OPERATOR(pg_catalog.=) $1 "
                         "AND state OPERATOR(pg_catalog.=) 'running'",
                         table),
                4, types, values, nulls);
    }
    close_progress_transaction();
    for (const SentChunk& chunk : chunks) {
        // A discarded last chunk is read again: its table, still running, is in the queue.
        if (chunk.discarded && chunk.last) queue_read = false;
        if (chunk.request != current) continue;
        if (chunk.discarded) {
            // Read again from where it began, and the chunk read ahead of it with it.
            drop_chunk_read_ahead();
            guard_cpp("rewinding the snapshot", [&] { *read_position = *position; });
            continue;
        }
        if (chunk.last) {
            current = InvalidOid;
            queue_read = false;
            continue;
        }
        if (!chunk.next_position.empty())
            guard_cpp("advancing the snapshot", [&] { *position = chunk.next_position; });
    }
}

// The next table of the queue (one already running first, as it was left), marked running.
void next_table() {
    current = InvalidOid;
    open_progress_transaction();
    const char* table = snapshot_progress_table();
    if (table != nullptr) {
        // Tables whose last chunk is on its way are finished but for its acknowledgement.
        if (SPI_execute(psprintf("SELECT relid, chunk_position FROM %s WHERE state "
                                 "OPERATOR(pg_catalog.=) ANY ('{queued,running}') ORDER BY "
                                 "state OPERATOR(pg_catalog.=) 'running' DESC, requested_at, "
                                 "relid",
                                 table),
                        true, 0) != SPI_OK_SELECT)
            elog(ERROR, "bottledwater: could not read the queue of snapshots");
        uint64 row_number = 0;
        while (row_number < SPI_processed) {
            bool isnull;
            const Oid relid = DatumGetObjectId(SPI_getbinval(
                SPI_tuptable->vals[row_number], SPI_tuptable->tupdesc, 1, &isnull));
            bool in_flight = false;
            guard_cpp("looking at chunks on their way",
                      [&] { in_flight = reconciler->awaiting_acknowledgement(relid); });
            if (!in_flight) break;
            row_number++;
        }
        if (row_number < SPI_processed) {
            bool isnull;
            HeapTuple row = SPI_tuptable->vals[row_number];
            current = DatumGetObjectId(SPI_getbinval(row, SPI_tuptable->tupdesc, 1, &isnull));
            Datum array = SPI_getbinval(row, SPI_tuptable->tupdesc, 2, &isnull);
            Datum* items = nullptr;
            int count = 0;
            if (!isnull)
                deconstruct_array(DatumGetArrayTypeP(array), TEXTOID, -1, false, TYPALIGN_INT,
                                  &items, nullptr, &count);
            char** texts = static_cast<char**>(palloc(sizeof(char*) * Max(count, 1)));
            for (int i = 0; i < count; i++) texts[i] = TextDatumGetCString(items[i]);
            guard_cpp("resuming a snapshot", [&] {
                position->assign(texts, texts + count);
                *read_position = *position;
            });
            Oid types[1] = {OIDOID};
            Datum values[1] = {ObjectIdGetDatum(current)};
            execute(psprintf("UPDATE %s SET state = 'running', started_at = "
                             "COALESCE(started_at, pg_catalog.now()) "
                             "WHERE relid OPERATOR(pg_catalog.=) $1",
                             table),
                    1, types, values, nullptr);
        }
    }
    close_progress_transaction();
    queue_read = true;
}

void finish_table(const char* state, const char* error) {
    open_progress_transaction();
    const char* table = snapshot_progress_table();
    if (table != nullptr) {
        Oid types[3] = {OIDOID, TEXTOID, TEXTOID};
        Datum values[3] = {ObjectIdGetDatum(current), CStringGetTextDatum(state),
                           error ? CStringGetTextDatum(error) : (Datum)0};
        const char nulls[4] = {' ', ' ', error ? ' ' : 'n', '\0'};
        execute(psprintf("UPDATE %s SET state = $2, error = $3, finished_at = pg_catalog.now() "
                         "WHERE relid OPERATOR(pg_catalog.=) $1 "
                         "AND state OPERATOR(pg_catalog.=) 'running'",
                         table),
                3, types, values, nulls);
    }
    close_progress_transaction();
    if (error)
        ereport(LOG, (errmsg("bottledwater: incremental snapshot of table %u failed: %s",
                             current, error)));
    current = InvalidOid;
    queue_read = false;
}

constexpr size_t kPayloadBytes = sizeof my_watermark_name + 24;
char due_payload[kPayloadBytes];  // the watermark of the chunk read ahead

// The next chunk's watermark, into `payload` (kPayloadBytes).
void name_watermark(char* payload) {
    guard_cpp("naming a watermark", [&] {
        strlcpy(payload, watermark_payload(my_watermark_name, ++chunk_number).c_str(),
                kPayloadBytes);
    });
}

// Writes a held chunk's watermark, after its rows were read, and makes it decodable at once. A
// non-transactional message needs no transaction.
void write_watermark(const char* payload) {
#if PG_VERSION_NUM >= 170000
    (void)LogLogicalMessage(kWatermarkPrefix, payload, strlen(payload), false, true);
#else
    XLogFlush(LogLogicalMessage(kWatermarkPrefix, payload, strlen(payload), false));
#endif
}

// One chunk of the current table, read and handed to the reconciler. An ERROR while reading
// (the table altered under the read, a type that cannot be compared) fails that table only.
void read_next_chunk() {
    MemoryContext caller = CurrentMemoryContext;
    volatile ChunkOutcome outcome = ChunkOutcome::Read;
    char* volatile why = nullptr;
    char* volatile error = nullptr;
    char payload[kPayloadBytes];
    StartTransactionCommand();
    PG_TRY();
    {
        guard_cpp("starting a chunk", [&] { *reading = SnapshotChunk(); });
        char* refusal = nullptr;
        outcome = read_chunk(current, *read_position, setting_snapshot_chunk_rows,
                             static_cast<size_t>(setting_snapshot_chunk_kb) * 1024, *reading,
                             &refusal);
        if (outcome == ChunkOutcome::Read) name_watermark(payload);
        if (refusal) why = MemoryContextStrdup(TopMemoryContext, refusal);
        CommitTransactionCommand();
    }
    PG_CATCH();
    {
        MemoryContextSwitchTo(caller);
        ErrorData* data = CopyErrorData();
        FlushErrorState();
        AbortCurrentTransaction();
        error = MemoryContextStrdup(TopMemoryContext, data->message);
        FreeErrorData(data);
    }
    PG_END_TRY();
    MemoryContextSwitchTo(caller);
    if (error) {
        finish_table("failed", error);
        pfree(error);
        return;
    }
    if (outcome == ChunkOutcome::TableGone) return finish_table("failed", "the table was dropped");
    if (outcome == ChunkOutcome::Refused) {
        finish_table("failed", why);
        pfree(why);
        return;
    }
    const bool last = reading->last;
    guard_cpp("holding a chunk", [&] {
        if (!reading->next_position.empty()) *read_position = reading->next_position;
        reconciler->open(std::move(*reading), std::string(payload));
    });
    if (reconciler->awaiting_acknowledgement(current)) {
        strlcpy(due_payload, payload, kPayloadBytes);
        watermark_due = true;
        watermark_due_request = current;
    } else {
        write_watermark(payload);
    }
    if (last) {
        current = InvalidOid;
        queue_read = false;
    }
}

// snapshot_new_tables: the tables captured when last looked, and whether a publication changed
// since (its catalog rows were invalidated).
std::unordered_set<Oid>* captured = nullptr;
bool publications_changed = false;

void publication_invalidated(Datum, int, uint32) {
    publications_changed = true;
}

// Queues the tables that entered the capture set since it was last looked at. The first look
// only remembers: tables captured when the worker starts are not new.
void queue_new_tables() {
    publications_changed = false;
    open_progress_transaction();
    const char* schema = extension_schema();
    if (schema != nullptr) {
        if (SPI_execute(psprintf("SELECT table_name FROM %s.bw_captured_tables()", schema), true,
                        0) != SPI_OK_SELECT)
            elog(ERROR, "bottledwater: could not list the captured tables");
        Oid* now = static_cast<Oid*>(palloc(sizeof(Oid) * Max(SPI_processed, 1)));
        const uint64 count = SPI_processed;
        for (uint64 i = 0; i < count; i++) {
            bool isnull;
            now[i] = DatumGetObjectId(
                SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
        }
        StringInfoData entered;
        initStringInfo(&entered);
        const bool first_look = captured == nullptr;
        guard_cpp("comparing the capture set", [&] {
            if (first_look) captured = new std::unordered_set<Oid>();
            std::unordered_set<Oid> previous;
            previous.swap(*captured);
            for (uint64 i = 0; i < count; i++) {
                captured->insert(now[i]);
                if (!first_look && previous.count(now[i]) == 0)
                    appendStringInfo(&entered, "%s%u", entered.len ? "," : "", now[i]);
            }
        });
        if (entered.len > 0) {
            ereport(LOG, (errmsg("bottledwater: tables entered the capture set; queued for an "
                                 "incremental snapshot: %s",
                                 entered.data)));
            queue_captured_tables(
                schema, psprintf("c.table_name::pg_catalog.oid OPERATOR(pg_catalog.=) ANY "
                                 "('{%s}'::pg_catalog.oid[])",
                                 entered.data));
        }
    }
    close_progress_transaction();
}

}  // namespace

ChangeSink* start_incremental_snapshots(ChangeSink& stream, WorkerState* state,
                                        const char* slot_name, void (*send_queued)()) {
    my_state = state;
    send_queued_changes = send_queued;
    snprintf(my_watermark_name, sizeof my_watermark_name, "%s/%lld", slot_name,
             static_cast<long long>(MyStartTimestamp));
    guard_cpp("preparing incremental snapshots", [&] {
        reconciler = new ChunkReconciler(stream);
        reading = new SnapshotChunk();
        position = new std::vector<std::string>();
        read_position = new std::vector<std::string>();
    });
    if (setting_snapshot_new_tables) {
        CacheRegisterSyscacheCallback(PUBLICATIONRELMAP, publication_invalidated, (Datum)0);
        CacheRegisterSyscacheCallback(PUBLICATIONNAMESPACEMAP, publication_invalidated,
                                      (Datum)0);
        CacheRegisterSyscacheCallback(PUBLICATIONOID, publication_invalidated, (Datum)0);
        queue_new_tables();
    }
    return reconciler;
}

bool run_incremental_snapshots(XLogRecPtr acknowledged_lsn) {
    if (publications_changed) {
        queue_new_tables();
        queue_read = false;
    }
    if (reconciler->awaiting_acknowledgement()) {
        std::vector<SentChunk> done;
        guard_cpp("collecting acknowledged chunks",
                  [&] { done = reconciler->take_acknowledged(acknowledged_lsn); });
        if (!done.empty()) record_acknowledged(done);
    }
    LWLockAcquire(worker_states->lock, LW_SHARED);
    const uint64 requests = my_state->snapshot_requests;
    LWLockRelease(worker_states->lock);
    if (requests != requests_seen) {
        requests_seen = requests;
        queue_read = false;
        // A table cancelled gets no chunk more; whatever else changed, the queue says next.
        drop_chunk_read_ahead();
    }
    if (watermark_due && !reconciler->awaiting_acknowledgement(watermark_due_request)) {
        watermark_due = false;
        write_watermark(due_payload);
    }
    if (reconciler->chunk_open()) return true;
    if (!queue_read) {
        // The queue is read again once the table's chunk on its way is acknowledged.
        if (current != InvalidOid && reconciler->awaiting_acknowledgement(current)) return true;
        next_table();
    }
    if (current == InvalidOid) return reconciler->awaiting_acknowledgement();
    // What the last pass produced would otherwise linger in the producer's queue while the
    // chunk is read: a chunk's acknowledgement and the stream's changes would both wait for it.
    send_queued_changes();
    read_next_chunk();
    return true;
}

}  // namespace bw
