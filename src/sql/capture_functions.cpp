// bw_captured_tables(): what the worker of the current database captures, as the catalog and
// bottledwater.publication say now: each table, the table it is streamed as, its topic, the
// operations and columns it sends and whether a row filter applies. A companion of bw_status.
extern "C" {
#include "postgres.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_class.h"
#include "catalog/pg_publication.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/rel.h"
}

#include "decode/capture_set.h"
#include "decode/stream_target.h"
#include "decode/table_schema.h"
#include "pg_boundary.h"
#include "produce/topic_namer.h"
#include "worker/settings.h"

namespace bw {
namespace {

Datum operations_text(const PublicationActions& actions) {
    StringInfoData text;
    initStringInfo(&text);
    const char* separator = "";
    const struct {
        bool on;
        const char* name;
    } operations[] = {{actions.pubinsert, "insert"},
                      {actions.pubupdate, "update"},
                      {actions.pubdelete, "delete"},
                      {actions.pubtruncate, "truncate"}};
    for (const auto& operation : operations) {
        if (!operation.on) continue;
        appendStringInfo(&text, "%s%s", separator, operation.name);
        separator = ", ";
    }
    return CStringGetTextDatum(text.data);
}

// The value record's columns, for a table with a column list.
Datum column_names(Relation target, const TableSchema& table) {
    Datum* names = static_cast<Datum*>(palloc(sizeof(Datum) * table.columns.size()));
    for (size_t i = 0; i < table.columns.size(); i++)
        names[i] = CStringGetTextDatum(NameStr(
            TupleDescAttr(RelationGetDescr(target), table.columns[i].attribute_index)->attname));
    return PointerGetDatum(construct_array(names, static_cast<int>(table.columns.size()), TEXTOID,
                                           -1, false, TYPALIGN_INT));
}

}  // namespace
}  // namespace bw

using namespace bw;

extern "C" {

PG_FUNCTION_INFO_V1(bw_captured_tables);
Datum bw_captured_tables(PG_FUNCTION_ARGS) {
    InitMaterializedSRF(fcinfo, 0);
    ReturnSetInfo* rsinfo = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);
    MemoryContext context =
        AllocSetContextCreate(CurrentMemoryContext, "bw_captured_tables", ALLOCSET_DEFAULT_SIZES);
    // Heap objects, deleted below; an ERROR leaks them with the (aborted) statement's memory.
    CaptureSet* capture = nullptr;
    SchemaCache* schemas = nullptr;
    ChangeEnvelope* envelope = nullptr;  // the row envelope: only the tables' keys are asked
    const char* database = get_database_name(MyDatabaseId);
    guard_cpp("reading bottledwater.publication", [&] {
        std::vector<std::string> names;
        split_publication_names(setting_publication, &names);  // the GUC's check hook parsed it
        capture = new CaptureSet(std::move(names), context);
        envelope = make_envelope(EnvelopeConfig()).release();
        schemas = new SchemaCache(context, *envelope, TypeMapping::Avro);
    });

    Relation pg_class = table_open(RelationRelationId, AccessShareLock);
    TableScanDesc scan = table_beginscan_catalog(pg_class, 0, nullptr);
    HeapTuple row;
    while ((row = heap_getnext(scan, ForwardScanDirection)) != nullptr) {
        Form_pg_class form = (Form_pg_class)GETSTRUCT(row);
        // A partitioned table's changes are its partitions'; they say what they are sent as.
        if (form->relkind != RELKIND_RELATION) continue;
        Relation relation = try_relation_open(form->oid, AccessShareLock);
        if (relation == nullptr) continue;
        const TableCapture* captured = nullptr;
        if (is_publishable_relation(relation))
            guard_cpp("looking up the capture set", [&] { captured = &capture->lookup(relation); });
        if (captured != nullptr && captured->member) {
            StreamTarget target = open_stream_target(relation, captured->stream_as);
            TableSchema* table = nullptr;
            char topic[1024] = "";
            guard_cpp("describing a table", [&] {
                table = &schemas->lookup(target.relation, captured->columns);
                strlcpy(topic,
                        envelope_topic(setting_topic_prefix, database,
                                       table->description.schema_name,
                                       table->description.table_name)
                            .c_str(),
                        sizeof topic);
            });
            if (table->keyed || setting_allow_unkeyed) {
                Datum values[6];
                bool nulls[6] = {};
                values[0] = ObjectIdGetDatum(RelationGetRelid(relation));
                values[1] = ObjectIdGetDatum(RelationGetRelid(target.relation));
                values[2] = CStringGetTextDatum(topic);
                values[3] = operations_text(captured->actions);
                nulls[4] = captured->columns.empty();
                if (!nulls[4]) values[4] = column_names(target.relation, *table);
                values[5] = BoolGetDatum(captured->row_filter != nullptr);
                tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
            }
            close_stream_target(target);
        }
        relation_close(relation, AccessShareLock);
    }
    table_endscan(scan);
    table_close(pg_class, AccessShareLock);
    delete schemas;
    delete envelope;
    delete capture;
    MemoryContextDelete(context);
    return (Datum)0;
}

}  // extern "C"
