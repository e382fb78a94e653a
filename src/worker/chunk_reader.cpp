// Reads one chunk of a table (see chunk_reader.h): an index scan of the table's key index, from
// past the last key read, under a snapshot that holds every written commit. The rows come in the
// table's own tuple format and go through the stream's encoder unchanged; the last key travels as
// typed datums compared by the index's own operators, never as SQL text.
#include "worker/chunk_reader.h"

extern "C" {
#include "access/genam.h"
#include "access/heaptoast.h"
#include "access/nbtree.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/pg_am.h"
#include "catalog/pg_index.h"
#include "catalog/pg_publication.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
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

// A valid, unique, whole-table btree index of `relation` on exactly the key columns, in their
// order (the primary key or replica identity index; a partition has its own), opened, or
// nullptr. Its order is the chunks' order, and a scan of it starts at a chunk's first key.
Relation open_key_order_index(Relation relation, const KeyColumn* keys, int key_count) {
    List* indexes = RelationGetIndexList(relation);
    Relation found = nullptr;
    ListCell* cell;
    foreach (cell, indexes) {
        Relation index = index_open(lfirst_oid(cell), AccessShareLock);
        const Form_pg_index form = index->rd_index;
        bool matches = index->rd_rel->relam == BTREE_AM_OID && form->indisunique &&
                       form->indisvalid && form->indnkeyatts == key_count &&
                       heap_attisnull(index->rd_indextuple, Anum_pg_index_indpred, nullptr) &&
                       heap_attisnull(index->rd_indextuple, Anum_pg_index_indexprs, nullptr);
        for (int i = 0; matches && i < key_count; i++)
            matches = form->indkey.values[i] == keys[i].attnum;
        if (matches) {
            found = index;
            break;
        }
        index_close(index, AccessShareLock);
    }
    list_free(indexes);
    return found;
}

// The one scan key "(k1, k2, ...) > position" in the index's own operators and collations, into
// `scan_keys[0]`; a row comparison's members follow it (key_count + 1 entries in all).
void key_past(Relation index, int key_count, const Datum* position, ScanKeyData* scan_keys) {
    const bool row = key_count > 1;
    ScanKeyData* members = row ? scan_keys + 1 : scan_keys;
    for (int i = 0; i < key_count; i++) {
        const Oid type = index->rd_opcintype[i];
        // A plain key compares with the operator; a row comparison's members with the btree
        // comparison function, as the executor builds them.
        Oid function = InvalidOid;
        if (row) {
            function = get_opfamily_proc(index->rd_opfamily[i], type, type, BTORDER_PROC);
        } else {
            const Oid greater = get_opfamily_member(index->rd_opfamily[i], type, type,
                                                    BTGreaterStrategyNumber);
            if (OidIsValid(greater)) function = get_opcode(greater);
        }
        if (!OidIsValid(function))
            elog(ERROR, "bottledwater: the key index %s cannot order column %d",
                 RelationGetRelationName(index), i + 1);
        ScanKeyEntryInitialize(&members[i], row ? SK_ROW_MEMBER : 0,
                               static_cast<AttrNumber>(i + 1), BTGreaterStrategyNumber, type,
                               index->rd_indcollation[i], function, position[i]);
    }
    if (!row) return;
    members[key_count - 1].sk_flags |= SK_ROW_END;
    // The header carries no function of its own.
    MemSet(&scan_keys[0], 0, sizeof(ScanKeyData));
    scan_keys[0].sk_flags = SK_ROW_HEADER;
    scan_keys[0].sk_attno = 1;
    scan_keys[0].sk_strategy = BTGreaterStrategyNumber;
    scan_keys[0].sk_argument = PointerGetDatum(members);
}

const TableCapture* captured_of(Relation relation) {
    const TableCapture* captured = nullptr;
    if (is_publishable_relation(relation))
        guard_cpp("looking up the capture set", [&] { captured = &capture->lookup(relation); });
    return captured != nullptr && captured->member ? captured : nullptr;
}

// The key columns of `table` (as streamed: the root's, for a partition) in `relation`, palloc'd.
KeyColumn* key_columns_in(Relation relation, const StreamTarget& target, const TableSchema& table) {
    const int key_count = static_cast<int>(table.key_columns.size());
    KeyColumn* keys = static_cast<KeyColumn*>(palloc(sizeof(KeyColumn) * Max(key_count, 1)));
    for (int i = 0; i < key_count; i++) {
        const int index = table.columns[table.key_columns[i]].attribute_index;
        const char* name =
            NameStr(TupleDescAttr(RelationGetDescr(target.relation), index)->attname);
        keys[i].attnum = get_attnum(RelationGetRelid(relation), name);
        Form_pg_attribute attribute = TupleDescAttr(RelationGetDescr(relation), keys[i].attnum - 1);
        keys[i].type = attribute->atttypid;
        keys[i].typmod = attribute->atttypmod;
    }
    return keys;
}

// Why a table described by `table` cannot be read in chunks from `relation`, or nullptr; with
// none, `*index` is its key's index, open.
char* chunk_refusal(Relation relation, const StreamTarget& target, const TableSchema& table,
                    KeyColumn** keys, Relation* index) {
    if (!table.keyed || table.key_columns.empty())
        return psprintf("it has neither a primary key nor a replica identity index");
    const int key_count = static_cast<int>(table.key_columns.size());
    *keys = key_columns_in(relation, target, table);
    *index = open_key_order_index(relation, *keys, key_count);
    if (*index != nullptr) return nullptr;
    return psprintf("it has no valid unique btree index on its key columns alone, in their "
                    "order (a partition needs one of its own)");
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
    KeyColumn* keys = nullptr;
    Relation index = nullptr;
    char* why = chunk_refusal(relation, target, *table, &keys, &index);
    if (index != nullptr) index_close(index, AccessShareLock);
    close_stream_target(target);
    free_reader();
    return why;
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
    KeyColumn* keys = nullptr;
    Relation index = nullptr;
    *why = chunk_refusal(relation, target, *table, &keys, &index);
    if (*why == nullptr && !position.empty() && static_cast<int>(position.size()) != key_count)
        *why = psprintf("its key changed during the snapshot");
    if (*why != nullptr) {
        if (index != nullptr) index_close(index, AccessShareLock);
        close_stream_target(target);
        table_close(relation, AccessShareLock);
        MemoryContextSwitchTo(old);
        free_reader();
        return ChunkOutcome::Refused;
    }
    Datum* values = static_cast<Datum*>(palloc(sizeof(Datum) * key_count));
    for (size_t i = 0; i < position.size(); i++) {
        Oid input;
        Oid ioparam;
        getTypeInputInfo(keys[i].type, &input, &ioparam);
        values[i] =
            OidInputFunctionCall(input, pstrdup(position[i].c_str()), ioparam, keys[i].typmod);
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
    ScanKeyData* scan_keys =
        static_cast<ScanKeyData*>(palloc(sizeof(ScanKeyData) * (key_count + 1)));
    // The first chunk reads from the start; every later one starts past the last key covered.
    const int scan_key_count = position.empty() ? 0 : 1;
    if (scan_key_count > 0) key_past(index, key_count, values, scan_keys);
#if PG_VERSION_NUM >= 180000
    IndexScanDesc scan = index_beginscan(relation, index, snapshot, nullptr, scan_key_count, 0);
#else
    IndexScanDesc scan = index_beginscan(relation, index, snapshot, scan_key_count, 0);
#endif
    index_rescan(scan, scan_keys, scan_key_count, nullptr, 0);
    MemoryContext row_context =
        AllocSetContextCreate(read_context, "bottledwater chunk row", ALLOCSET_DEFAULT_SIZES);
    // Rows alternate between two slots: the last row covered stays in its own, pinned, for the
    // next chunk's position, whatever a fetch that finds no visible row leaves in the other.
    TupleTableSlot* slots[2] = {table_slot_create(relation, nullptr),
                                table_slot_create(relation, nullptr)};
    ChunkCollector collector(chunk);
    // The rows this chunk covers: up to `limit`, or to the row whose encoding reached `max_bytes`.
    int covered = 0;
    bool exhausted = false;
    while (covered < limit && chunk.rows.bytes() < max_bytes) {
        TupleTableSlot* slot = slots[covered % 2];
        if (!index_getnext_slot(scan, ForwardScanDirection, slot)) {
            exhausted = true;
            break;
        }
        covered++;
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
        TupleTableSlot* last_row = slots[(covered - 1) % 2];
        char** text = static_cast<char**>(palloc(sizeof(char*) * key_count));
        for (int k = 0; k < key_count; k++) {
            bool isnull;
            const Datum value = slot_getattr(last_row, keys[k].attnum, &isnull);
            Oid output;
            bool varlena;
            getTypeOutputInfo(keys[k].type, &output, &varlena);
            text[k] = OidOutputFunctionCall(output, value);
        }
        guard_cpp("keeping the chunk's position",
                  [&] { chunk.next_position.assign(text, text + key_count); });
    }
    chunk.last = exhausted;
    index_endscan(scan);
    ExecDropSingleTupleTableSlot(slots[0]);
    ExecDropSingleTupleTableSlot(slots[1]);
    UnregisterSnapshot(snapshot);
    index_close(index, AccessShareLock);
    close_stream_target(target);
    table_close(relation, AccessShareLock);
    MemoryContextSwitchTo(old);
    free_reader();
    return ChunkOutcome::Read;
}

}  // namespace bw
