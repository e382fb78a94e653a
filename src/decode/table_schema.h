// One table's encoding at decode time: which columns form the key, the key and value Avro
// records, and a codec per column. Built from the relation as the historic catalog shows it at
// the change being decoded, cached by relation OID, rebuilt after any invalidation of the table
// or of a type, and given a new schema version whenever its schema text changes.
#pragma once

extern "C" {
#include "postgres.h"
#include "utils/rel.h"
}

#include <memory>
#include <unordered_map>
#include <vector>

#include "decode/capture_set.h"
#include "decode/value_codec.h"
#include "encode/change_envelope.h"
#include "encode/encoded_change.h"

namespace bw {

struct ColumnEncoding {
    int attribute_index;  // 0-based position in the tuple descriptor
    std::unique_ptr<ValueCodec> codec;
    // A varlena column of a table without REPLICA IDENTITY FULL: an UPDATE may leave its value
    // out of the WAL, so its union carries the unchanged-TOAST marker. Any storage mode counts:
    // a column set to PLAIN may still hold values stored out of line before.
    bool may_be_unchanged_toast = false;
    // Part of the replica identity, so the old row of an UPDATE that leaves it out of line
    // carries its value (PostgreSQL logs the old key then).
    bool in_identity = false;
    // Connect mapping: a NOT NULL column, whose field is not optional.
    bool required = false;
};

struct TableSchema {
    Oid relid = InvalidOid;
    TypeMapping mapping = TypeMapping::Avro;
    TableDescription description;
    // Has a primary key or replica identity index; other tables stream only with allow_unkeyed.
    bool keyed = false;
    bool replica_identity_full = false;
    bool replica_identity_nothing = false;
    ColumnList published;                 // the column list it was built for; empty: all
    std::vector<ColumnEncoding> columns;  // value record fields, in column order
    // Indexes into `columns`, in key order. A table without a key index under REPLICA IDENTITY
    // FULL is identified by its whole row, as PostgreSQL identifies it: every column, in order.
    std::vector<size_t> key_columns;
    AvroTypePtr key_record;  // null for a table with no identity
    AvroTypePtr value_record;
    MemoryContext context = nullptr;  // catalog data and output functions of this version
    std::vector<Oid> type_relations;  // of the composite types its columns use, nested too

    bool valid = false;
    bool announced = false;  // table_schema() sent for this version
    bool unkeyed_logged = false;
    bool unchanged_toast_logged = false;
};

class SchemaCache {
public:
    // Each table's memory is a child of `parent` and goes with it. The envelope says what the
    // schema texts of each table are; the debezium envelope's tables use the Connect mapping.
    SchemaCache(MemoryContext parent, const ChangeEnvelope& envelope, TypeMapping mapping);

    // The schema of `relation` at the change being decoded, holding only the `published`
    // columns (all when empty); rebuilt if invalidated or given another column list.
    TableSchema& lookup(Relation relation, const ColumnList& published);

    // The table `relid`, or every table using the composite type whose relation is `relid`.
    void invalidate(Oid relid);
    void invalidate_all();

    // Under table churn the cache must not keep every relation ever seen: once it has doubled
    // since the last sweep, entries of relations that no longer exist in the catalog as of the
    // change being decoded are dropped. Returns their OIDs (valid until the next call), so the
    // sink can drop what it keeps for them too; usually empty. Needs catalog access.
    const std::vector<Oid>& forget_dropped();

private:
    void rebuild(TableSchema& schema, Relation relation, const ColumnList& published);

    MemoryContext parent_;
    const ChangeEnvelope& envelope_;
    TypeMapping mapping_;
    std::unordered_map<Oid, std::unique_ptr<TableSchema>> tables_;
    size_t next_sweep_at_;
    // A member, so that a catalog ERROR during the sweep leaves no C++ object behind.
    std::vector<Oid> dropped_;
};

// Logs once per table version that an unkeyed table is left out or sent with null keys, saying
// why it has no key (no primary key, or REPLICA IDENTITY NOTHING) and what would give it one.
void log_unkeyed_table(TableSchema& table, const char* consequence);

// Registers the relcache and type invalidation callbacks (once per process) and points them at
// `cache`; nullptr detaches them when the decoding session ends.
void attach_schema_invalidations(SchemaCache* cache);

}  // namespace bw
