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

#include "decode/value_codec.h"
#include "encode/encoded_change.h"

namespace bw {

struct ColumnEncoding {
    int attribute_index;  // 0-based position in the tuple descriptor
    std::unique_ptr<ValueCodec> codec;
    // A toastable column of a table without REPLICA IDENTITY FULL: an UPDATE may leave its value
    // out of the WAL, so its union carries the unchanged-TOAST marker.
    bool may_be_unchanged_toast = false;
};

struct TableSchema {
    Oid relid = InvalidOid;
    TableDescription description;
    bool keyed = false;
    bool replica_identity_full = false;
    bool replica_identity_nothing = false;
    std::vector<ColumnEncoding> columns;  // value record fields, in column order
    std::vector<size_t> key_columns;      // indexes into `columns`, in key order
    AvroTypePtr key_record;               // null for an unkeyed table
    AvroTypePtr value_record;
    MemoryContext context = nullptr;  // catalog data and output functions of this version

    bool valid = false;
    bool announced = false;  // table_schema() sent for this version
    bool unkeyed_logged = false;
    bool unchanged_toast_logged = false;
};

class SchemaCache {
public:
    // Each table's memory is a child of `parent` and goes with it.
    explicit SchemaCache(MemoryContext parent);

    // The schema of `relation` at the change being decoded; rebuilt if invalidated.
    TableSchema& lookup(Relation relation);

    void invalidate(Oid relid);
    void invalidate_all();

private:
    void rebuild(TableSchema& schema, Relation relation);

    MemoryContext parent_;
    std::unordered_map<Oid, std::unique_ptr<TableSchema>> tables_;
};

// Logs once per table version that an unkeyed table is left out or sent with null keys, saying
// why it has no key (no primary key, or REPLICA IDENTITY NOTHING) and what would give it one.
void log_unkeyed_table(TableSchema& table, const char* consequence);

// Registers the relcache and type invalidation callbacks (once per process) and points them at
// `cache`; nullptr detaches them when the decoding session ends.
void attach_schema_invalidations(SchemaCache* cache);

}  // namespace bw
