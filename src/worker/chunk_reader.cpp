// Reads one chunk of a table (see chunk_reader.h). The keys are found with SQL (the primary key's
// order, past the last key read), the rows then fetched by ctid under the same snapshot, so they
// come in the table's own tuple format and go through the stream's encoder unchanged. Names are
// quoted and qualified, the last key travels as typed parameters, never as SQL text.
#include "worker/chunk_reader.h"

extern "C" {
#include "access/heaptoast.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/pg_publication.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
}

#include "decode/capture_set.h"
#include "decode/change_encoder.h"
#include "decode/output_plugin.h"
#include "decode/stream_target.h"
#include "decode/table_schema.h"
#include "pg_boundary.h"
#include "worker/settings.h"
#include "worker/worker_envelope.h"

namespace bw {

namespace {

// Keeps what the encoder hands on: the rows of the chunk.
class ChunkCollector final : public ChangeSink {
public:
    explicit ChunkCollector(SnapshotChunk& chunk) : chunk_(chunk) {}
    void begin_transaction(const TransactionInfo&) override {}
    void table_schema(const TableDescription&) override {}
    void change(const EncodedChange& change) override {
        chunk_.rows.add(change.key, change.value);
    }
    void truncate(const EncodedChange&) override {}
    void outbox_message(const OutboxMessage&) override {}
    void commit_transaction(const TransactionInfo&) override {}

private:
    SnapshotChunk& chunk_;
};

// Per read, rebuilt each time so that they see the catalog as it is now; freed at the start of
// the next read too, should an ERROR have left them behind.
CaptureSet* capture = nullptr;
SchemaCache* schemas = nullptr;
// Built once, as the stream's decoding context builds its own from the same settings.
ChangeEnvelope* envelope = nullptr;
ChangeEncoder* encoder = nullptr;
MemoryContext read_context = nullptr;

void free_reader() {
    guard_cpp("freeing the chunk reader", [&] {
        delete capture;
        delete schemas;
        capture = nullptr;
        schemas = nullptr;
    });
    if (read_context) MemoryContextReset(read_context);
}

void prepare_reader() {
    if (read_context == nullptr)
        read_context = AllocSetContextCreate(TopMemoryContext, "bottledwater chunk reader",
                                             ALLOCSET_DEFAULT_SIZES);
    free_reader();
    guard_cpp("preparing the chunk reader", [&] {
        std::vector<std::string> names;
        split_publication_names(setting_publication, &names);  // the GUC's check hook parsed it
        capture = new CaptureSet(std::move(names), read_context);
        if (envelope == nullptr) {
            envelope = make_worker_envelope().release();
            encoder = new ChangeEncoder(*envelope);
        }
        schemas = new SchemaCache(read_context, *envelope, worker_type_mapping());
    });
}

// A snapshot that sees every transaction whose commit record is written. A backend makes its
// commit visible a moment after writing the record (longer under synchronous replication), and
// the stream may already have decoded that record: a chunk read without it would hold an older
// row than the stream sent before it. Such a transaction is waited for and the snapshot taken
// again.
Snapshot snapshot_of_every_written_commit() {
    for (;;) {
        Snapshot snapshot = RegisterSnapshot(GetLatestSnapshot());
        TransactionId committed = InvalidTransactionId;
        for (uint32 i = 0; i < snapshot->xcnt && !TransactionIdIsValid(committed); i++)
            if (TransactionIdDidCommit(snapshot->xip[i])) committed = snapshot->xip[i];
        // Transactions from xmax on count as running too, though the snapshot does not list them.
        const TransactionId next = XidFromFullTransactionId(ReadNextFullTransactionId());
        TransactionId xid = snapshot->xmax;
        while (TransactionIdPrecedes(xid, next) && !TransactionIdIsValid(committed)) {
            if (TransactionIdDidCommit(xid)) committed = xid;
            TransactionIdAdvance(xid);
        }
        if (!TransactionIdIsValid(committed)) return snapshot;
        UnregisterSnapshot(snapshot);
        XactLockTableWait(committed, nullptr, nullptr, XLTW_None);
    }
}

struct KeyColumn {
    AttrNumber attnum;  // in the table read (a partition's own numbering)
    Oid type;
    int32 typmod;
};

// SELECT ctid, k1, k2 FROM ONLY t [WHERE (k1, k2) > ($1, $2)] ORDER BY k1, k2 LIMIT n
char* chunk_query(Relation relation, const KeyColumn* keys, int key_count, bool from_start,
                  int limit) {
    StringInfoData list;
    initStringInfo(&list);
    for (int i = 0; i < key_count; i++)
        appendStringInfo(&list, "%s%s", i ? ", " : "",
                         quote_identifier(get_attname(RelationGetRelid(relation),
                                                      keys[i].attnum, false)));
    StringInfoData sql;
    initStringInfo(&sql);
    appendStringInfo(&sql, "SELECT ctid, %s FROM ONLY %s.%s", list.data,
                     quote_identifier(get_namespace_name(RelationGetNamespace(relation))),
                     quote_identifier(RelationGetRelationName(relation)));
    if (!from_start) {
        appendStringInfo(&sql, " WHERE (%s) OPERATOR(pg_catalog.>) (", list.data);
        for (int i = 0; i < key_count; i++) appendStringInfo(&sql, "%s$%d", i ? ", " : "", i + 1);
        appendStringInfoString(&sql, ")");
    }
    appendStringInfo(&sql, " ORDER BY %s LIMIT %d", list.data, limit);
    return sql.data;
}

const TableCapture* captured_of(Relation relation) {
    const TableCapture* captured = nullptr;
    if (is_publishable_relation(relation))
        guard_cpp("looking up the capture set", [&] { captured = &capture->lookup(relation); });
    return captured != nullptr && captured->member ? captured : nullptr;
}

}  // namespace

char* snapshot_refusal(Relation relation) {
    prepare_reader();
    const TableCapture* captured = captured_of(relation);
    if (captured == nullptr) return psprintf("it is not in the capture set");
    StreamTarget target = open_stream_target(relation, captured->stream_as);
    TableSchema* table = nullptr;
    guard_cpp("describing a table",
              [&] { table = &schemas->lookup(target.relation, captured->columns); });
    const bool keyed = table->keyed && !table->key_columns.empty();
    close_stream_target(target);
    free_reader();
    return keyed ? nullptr : psprintf("it has neither a primary key nor a replica identity index");
}

ChunkOutcome read_chunk(Oid relid, const std::vector<std::string>& position, int limit,
                        size_t max_bytes, SnapshotChunk& chunk, char** why) {
    Relation relation = try_table_open(relid, AccessShareLock);
    if (relation == nullptr) return ChunkOutcome::TableGone;
    prepare_reader();
    const TableCapture* captured = captured_of(relation);
    if (captured == nullptr) {
        *why = psprintf("it left the capture set");
        table_close(relation, AccessShareLock);
        return ChunkOutcome::Refused;
    }
    MemoryContext old = MemoryContextSwitchTo(read_context);
    StreamTarget target = open_stream_target(relation, captured->stream_as);
    TableSchema* table = nullptr;
    guard_cpp("describing a table",
              [&] { table = &schemas->lookup(target.relation, captured->columns); });
    const int key_count = static_cast<int>(table->key_columns.size());
    if (!table->keyed || key_count == 0) {
        *why = psprintf("it has neither a primary key nor a replica identity index");
        close_stream_target(target);
        table_close(relation, AccessShareLock);
        MemoryContextSwitchTo(old);
        free_reader();
        return ChunkOutcome::Refused;
    }
    KeyColumn* keys = static_cast<KeyColumn*>(palloc(sizeof(KeyColumn) * key_count));
    Oid* types = static_cast<Oid*>(palloc(sizeof(Oid) * key_count));
    Datum* values = static_cast<Datum*>(palloc(sizeof(Datum) * key_count));
    for (int i = 0; i < key_count; i++) {
        const int index = table->columns[table->key_columns[i]].attribute_index;
        const char* name =
            NameStr(TupleDescAttr(RelationGetDescr(target.relation), index)->attname);
        keys[i].attnum = get_attnum(relid, name);
        Form_pg_attribute attribute = TupleDescAttr(RelationGetDescr(relation), keys[i].attnum - 1);
        keys[i].type = types[i] = attribute->atttypid;
        keys[i].typmod = attribute->atttypmod;
    }
    const bool from_start = position.empty();
    if (!from_start) {
        if (static_cast<int>(position.size()) != key_count) {
            *why = psprintf("its key changed during the snapshot");
            close_stream_target(target);
            table_close(relation, AccessShareLock);
            MemoryContextSwitchTo(old);
            free_reader();
            return ChunkOutcome::Refused;
        }
        for (int i = 0; i < key_count; i++) {
            Oid input;
            Oid ioparam;
            getTypeInputInfo(keys[i].type, &input, &ioparam);
            values[i] =
                OidInputFunctionCall(input, pstrdup(position[i].c_str()), ioparam, keys[i].typmod);
        }
    }

    Snapshot snapshot = snapshot_of_every_written_commit();
    chunk.request = relid;
    chunk.read_time_micros = unix_micros(GetCurrentTimestamp());
    // What an envelope that describes the source says of a chunk row: a snapshot read, here.
    TransactionInfo read;
    read.commit_lsn = read.end_lsn = GetXLogInsertRecPtr();
    read.commit_time_micros = chunk.read_time_micros;
    read.snapshot = true;
    read.snapshot_mark = SnapshotMark::Incremental;
    guard_cpp("announcing a table", [&] { chunk.table = table->description; });
    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "bottledwater: SPI_connect failed");
    SPIPlanPtr plan = SPI_prepare(chunk_query(relation, keys, key_count, from_start, limit),
                                  from_start ? 0 : key_count, types);
    if (plan == nullptr) elog(ERROR, "bottledwater: could not plan the chunk query");
    if (SPI_execute_snapshot(plan, values, nullptr, snapshot, InvalidSnapshot, true, false,
                             limit) != SPI_OK_SELECT)
        elog(ERROR, "bottledwater: could not read a chunk of table %s",
             RelationGetRelationName(relation));
    // The keys found stay in SPI's memory until the chunk ends: the last one it covers is where
    // the next chunk starts. What the chunk keeps is outside it.
    const uint64 found = SPI_processed;
    SPITupleTable* keys_found = SPI_tuptable;
    MemoryContextSwitchTo(read_context);
    MemoryContext row_context =
        AllocSetContextCreate(read_context, "bottledwater chunk row", ALLOCSET_DEFAULT_SIZES);
    TupleTableSlot* slot = table_slot_create(relation, nullptr);
    ChunkCollector collector(chunk);
    // The keys found that this chunk covers: all of them, or those up to the row whose encoding
    // reached `max_bytes`.
    uint64 covered = 0;
    while (covered < found && chunk.rows.bytes() < max_bytes) {
        bool isnull;
        ItemPointerData tid = *reinterpret_cast<ItemPointer>(DatumGetPointer(
            SPI_getbinval(keys_found->vals[covered], keys_found->tupdesc, 1, &isnull)));
        covered++;
        if (!table_tuple_fetch_row_version(relation, &tid, snapshot, slot)) continue;
        MemoryContextSwitchTo(row_context);
        HeapTuple tuple = snapshot_row(target, relation, slot);
        if (filter_snapshot_row(captured->row_filter, tuple))
            guard_cpp("encoding a chunk row", [&] {
                encoder->encode(ChangeOp::Insert, target.relation, *table, nullptr, tuple,
                                read, read.commit_lsn, collector);
            });
        MemoryContextSwitchTo(read_context);
        MemoryContextReset(row_context);
    }
    // The next chunk starts past the last key covered, whether or not the row filter kept its row.
    if (covered > 0) {
        char** text = static_cast<char**>(palloc(sizeof(char*) * key_count));
        for (int k = 0; k < key_count; k++)
            text[k] = SPI_getvalue(keys_found->vals[covered - 1], keys_found->tupdesc, k + 2);
        guard_cpp("keeping the chunk's position",
                  [&] { chunk.next_position.assign(text, text + key_count); });
    }
    chunk.last = covered == found && found < static_cast<uint64>(limit);
    ExecDropSingleTupleTableSlot(slot);
    SPI_finish();
    UnregisterSnapshot(snapshot);
    close_stream_target(target);
    table_close(relation, AccessShareLock);
    MemoryContextSwitchTo(old);
    free_reader();
    return ChunkOutcome::Read;
}

}  // namespace bw
