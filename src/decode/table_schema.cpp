// Building a table's key and value records from its relation (see table_schema.h).
#include "decode/table_schema.h"

#include <algorithm>

extern "C" {
#include "access/htup_details.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/relcache.h"
#include "utils/syscache.h"
}

#include <algorithm>

#include "pg_boundary.h"
#include "schema/avro_names.h"

namespace bw {

// A database's tables fit in this many entries without any sweep.
static constexpr size_t kFirstSweepAt = 256;

SchemaCache::SchemaCache(MemoryContext parent, const ChangeEnvelope& envelope, TypeMapping mapping)
    : parent_(parent), envelope_(envelope), mapping_(mapping), next_sweep_at_(kFirstSweepAt) {}

TableSchema& SchemaCache::lookup(Relation relation, const ColumnList& published) {
    std::unique_ptr<TableSchema>& slot = tables_[RelationGetRelid(relation)];
    if (!slot) {
        slot.reset(new TableSchema());
        slot->relid = RelationGetRelid(relation);
        slot->mapping = mapping_;
    }
    if (!slot->valid || slot->published != published) rebuild(*slot, relation, published);
    return *slot;
}

void SchemaCache::invalidate(Oid relid) {
    for (auto& entry : tables_) {
        TableSchema& table = *entry.second;
        if (table.relid == relid || std::find(table.type_relations.begin(),
                                              table.type_relations.end(),
                                              relid) != table.type_relations.end())
            table.valid = false;
    }
}

void SchemaCache::invalidate_all() {
    for (auto& entry : tables_) entry.second->valid = false;
}

// Only an invalidated entry can belong to a dropped relation: DROP invalidates it. Amortised
// O(1) per lookup, since the threshold doubles with what survives.
const std::vector<Oid>& SchemaCache::forget_dropped() {
    dropped_.clear();
    if (tables_.size() < next_sweep_at_) return dropped_;
    dropped_.reserve(tables_.size());
    for (auto it = tables_.begin(); it != tables_.end();) {
        if (it->second->valid || SearchSysCacheExists1(RELOID, ObjectIdGetDatum(it->first))) {
            ++it;
            continue;
        }
        dropped_.push_back(it->first);
        if (it->second->context) MemoryContextDelete(it->second->context);
        it = tables_.erase(it);
    }
    next_sweep_at_ = std::max(kFirstSweepAt, 2 * tables_.size());
    return dropped_;
}

// The key is the replica identity index when one is chosen, else the primary key; a table with
// REPLICA IDENTITY NOTHING has no key, because its deletes carry no old key in the WAL.
static Oid key_index(Relation relation) {
    switch (relation->rd_rel->relreplident) {
        case REPLICA_IDENTITY_INDEX: return RelationGetReplicaIndex(relation);
        case REPLICA_IDENTITY_NOTHING: return InvalidOid;
#if PG_VERSION_NUM >= 180000
        // A deferrable primary key is not a key here, as before 18 (and as for replica identity).
        default: return RelationGetPrimaryKeyIndex(relation, false);
#else
        default: return RelationGetPrimaryKeyIndex(relation);
#endif
    }
}

static std::vector<AttrNumber> key_attributes(Relation relation) {
    std::vector<AttrNumber> attributes;
    Oid index_oid = key_index(relation);
    if (!OidIsValid(index_oid)) return attributes;
    HeapTuple index_tuple = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(index_oid));
    if (!HeapTupleIsValid(index_tuple)) elog(ERROR, "cache lookup failed for index %u", index_oid);
    Form_pg_index index = (Form_pg_index)GETSTRUCT(index_tuple);
    for (int i = 0; i < index->indnkeyatts; i++) attributes.push_back(index->indkey.values[i]);
    ReleaseSysCache(index_tuple);
    return attributes;
}

void log_unkeyed_table(TableSchema& table, const char* consequence) {
    if (table.unkeyed_logged) return;
    const char* name = table.description.qualified_name.c_str();
    if (table.replica_identity_nothing)
        ereport(LOG, (errmsg("bottledwater: table \"%s\" has REPLICA IDENTITY NOTHING, so its "
                             "deletes carry no key; %s",
                             name, consequence),
                      errhint("ALTER TABLE %s REPLICA IDENTITY DEFAULT (or USING INDEX) keys it "
                              "by its primary key (or that index).",
                              name)));
    else
        ereport(LOG, (errmsg("bottledwater: table \"%s\" has no primary key or replica identity "
                             "index; %s",
                             name, consequence),
                      errhint("Add a primary key, or set allow_unkeyed to stream it with null "
                              "keys.")));
    table.unkeyed_logged = true;
}

static std::shared_ptr<AvroType> make_record(std::string full_name, std::string doc) {
    auto record = std::make_shared<AvroType>();
    record->kind = AvroKind::Record;
    record->full_name = std::move(full_name);
    record->doc = std::move(doc);
    return record;
}

static bool is_published(const ColumnList& published, int attribute_index) {
    return published.empty() ||
           std::binary_search(published.begin(), published.end(), attribute_index + 1);
}

void SchemaCache::rebuild(TableSchema& schema, Relation relation, const ColumnList& published) {
    if (schema.context) MemoryContextDelete(schema.context);
    schema.context =
        AllocSetContextCreate(parent_, "bottledwater table schema", ALLOCSET_SMALL_SIZES);
    TupleDesc descriptor = RelationGetDescr(relation);
    const char* namespace_name = get_namespace_name(RelationGetNamespace(relation));
    const char* table_name = RelationGetRelationName(relation);

    schema.replica_identity_full = relation->rd_rel->relreplident == REPLICA_IDENTITY_FULL;
    schema.columns.clear();
    schema.key_columns.clear();
    schema.type_relations.clear();

    std::vector<AttrNumber> identity = key_attributes(relation);
    schema.keyed = !identity.empty();
    const bool whole_row_identity = !schema.keyed && schema.replica_identity_full;
    std::vector<std::string> column_names;
    for (int i = 0; i < descriptor->natts; i++) {
        Form_pg_attribute attribute = TupleDescAttr(descriptor, i);
        if (attribute->attisdropped || !is_published(published, i)) continue;
        ColumnEncoding column;
        column.attribute_index = i;
        column.codec = ValueCodec::for_type(attribute->atttypid, attribute->atttypmod,
                                            schema.context, mapping_);
        // Connect has no marker: the debezium envelope sends Debezium's placeholder instead.
        column.may_be_unchanged_toast = mapping_ == TypeMapping::Avro &&
                                        !schema.replica_identity_full &&
                                        column.codec->is_varlena();
        column.required = mapping_ == TypeMapping::Connect && attribute->attnotnull;
        if (whole_row_identity) identity.push_back(attribute->attnum);
        column.codec->add_composite_relations(schema.type_relations);
        schema.columns.push_back(std::move(column));
        column_names.emplace_back(NameStr(attribute->attname));
    }
    std::vector<std::string> field_names = avro_field_names(column_names);

    std::string record_namespace = std::string("bottledwater.") + avro_name(namespace_name);
    std::string qualified = std::string(namespace_name) + "." + table_name;
    auto value_record =
        make_record(record_namespace + "." + avro_name(table_name), "row of table " + qualified);
    for (size_t i = 0; i < schema.columns.size(); i++) {
        const ColumnEncoding& column = schema.columns[i];
        value_record->fields.push_back(
            {field_names[i],
             column.required ? column.codec->value_type()
                             : column.codec->nullable_type(column.may_be_unchanged_toast),
             !column.required});
    }

    std::shared_ptr<AvroType> key_record;
    for (AttrNumber attnum : identity) {
        if (!is_published(published, attnum - 1))
            throw ReportableError(
                ERRCODE_INVALID_OBJECT_DEFINITION,
                "bottledwater: the column list published for table \"" + qualified +
                    "\" leaves out key column \"" +
                    NameStr(TupleDescAttr(descriptor, attnum - 1)->attname) + "\"",
                "Every change is keyed on the primary key or replica identity columns.",
                "Add the key columns to the column list (ALTER PUBLICATION ... SET TABLE ...).");
        if (!key_record)
            key_record = make_record(record_namespace + ".key." + avro_name(table_name),
                                     "key of table " + qualified);
        for (size_t i = 0; i < schema.columns.size(); i++) {
            if (schema.columns[i].attribute_index != attnum - 1) continue;
            schema.key_columns.push_back(i);
            schema.columns[i].in_identity = true;
            const ColumnEncoding& column = schema.columns[i];
            key_record->fields.push_back(
                {field_names[i],
                 column.required ? column.codec->value_type() : column.codec->nullable_type(false),
                 !column.required});
        }
    }
    schema.replica_identity_nothing = relation->rd_rel->relreplident == REPLICA_IDENTITY_NOTHING;
    schema.key_record = key_record;
    schema.value_record = value_record;

    TableDescription& description = schema.description;
    TableDescription described;
    described.schema_name = namespace_name;
    described.table_name = table_name;
    envelope_.describe(described, key_record, value_record);
    bool changed = description.schema_version == 0 ||
                   described.key_schema_json != description.key_schema_json ||
                   described.value_schema_json != description.value_schema_json;
    description.relid = schema.relid;
    description.schema_name = namespace_name;
    description.table_name = table_name;
    description.qualified_name = qualified;
    if (changed) {
        description.key_schema_json = std::move(described.key_schema_json);
        description.value_schema_json = std::move(described.value_schema_json);
        description.schema_version++;
        schema.announced = false;
    }
    schema.published = published;
    schema.valid = true;
}

static SchemaCache* attached_cache = nullptr;

static void relation_invalidated(Datum, Oid relid) {
    if (!attached_cache) return;
    if (OidIsValid(relid))
        attached_cache->invalidate(relid);
    else
        attached_cache->invalidate_all();
}

// A changed type (ALTER TYPE, a domain, an enum) may change any table that uses it.
static void type_invalidated(Datum, int, uint32) {
    if (attached_cache) attached_cache->invalidate_all();
}

void attach_schema_invalidations(SchemaCache* cache) {
    static bool registered = false;
    if (!registered) {
        CacheRegisterRelcacheCallback(relation_invalidated, (Datum)0);
        CacheRegisterSyscacheCallback(TYPEOID, type_invalidated, (Datum)0);
        registered = true;
    }
    attached_cache = cache;
}

}  // namespace bw
