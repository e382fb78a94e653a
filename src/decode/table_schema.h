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
    ColumnList published;                 // the column list it was built for; empty: all
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

    // The schema of `relation` at the change being decoded, holding only the `published`
    // columns (all when empty); rebuilt if invalidated or given another column list.
    TableSchema& lookup(Relation relation, const ColumnList& published);

    void invalidate(Oid relid);
    void invalidate_all();

private:
    void rebuild(TableSchema& schema, Relation relation, const ColumnList& published);

    MemoryContext parent_;
    std::unordered_map<Oid, std::unique_ptr<TableSchema>> tables_;
};

// Registers the relcache and type invalidation callbacks (once per process) and points them at
// `cache`; nullptr detaches them when the decoding session ends.
void attach_schema_invalidations(SchemaCache* cache);

}  // namespace bw
