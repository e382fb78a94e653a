// Publication membership of a table (see capture_set.h), decided as pgoutput's
// get_rel_sync_entry decides it: FOR ALL TABLES, the table's own publications, its schema's
// (FOR TABLES IN SCHEMA), and for a partition those of its ancestors.
#include "decode/capture_set.h"

extern "C" {
#include "catalog/dependency.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "catalog/pg_publication_rel.h"
#include "commands/extension.h"
#include "fmgr.h"
#include "nodes/nodes.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/varlena.h"
}

#include <algorithm>

namespace bw {

namespace {

constexpr PublicationActions kEveryAction = {true, true, true, true};

// The row filter of a membership row, palloc'd, or nullptr when it has none.
Node* row_filter_of(Oid publication_oid, Oid member_relid) {
    HeapTuple row = SearchSysCache2(PUBLICATIONRELMAP, ObjectIdGetDatum(member_relid),
                                    ObjectIdGetDatum(publication_oid));
    if (!HeapTupleIsValid(row)) return nullptr;
    bool none;
    Datum qual = SysCacheGetAttr(PUBLICATIONRELMAP, row, Anum_pg_publication_rel_prqual, &none);
    Node* filter = none ? nullptr : (Node*)stringToNode(TextDatumGetCString(qual));
    ReleaseSysCache(row);
    return filter;
}

void add_qual(List** quals, bool* unfiltered, bool publishes, Node* qual) {
    if (!publishes) return;
    if (qual == nullptr)
        *unfiltered = true;
    else
        *quals = lappend(*quals, qual);
}

// The column list of a membership row, palloc'd in ascending order, or nullptr when it has none.
// Plain palloc'd data: the syscache calls around it may ereport.
int2vector* column_list_of(Oid publication_oid, Oid member_relid) {
    HeapTuple row = SearchSysCache2(PUBLICATIONRELMAP, ObjectIdGetDatum(member_relid),
                                    ObjectIdGetDatum(publication_oid));
    if (!HeapTupleIsValid(row)) return nullptr;
    bool none;
    Datum attributes =
        SysCacheGetAttr(PUBLICATIONRELMAP, row, Anum_pg_publication_rel_prattrs, &none);
    int2vector* copy = none ? nullptr : (int2vector*)PG_DETOAST_DATUM_COPY(attributes);
    ReleaseSysCache(row);
    if (copy) std::sort(copy->values, copy->values + copy->dim1);
    return copy;
}

bool same_columns(const ColumnList& columns, const int2vector* list) {
    if (list == nullptr) return columns.empty();
    return std::equal(columns.begin(), columns.end(), list->values, list->values + list->dim1);
}

[[noreturn]] void report_missing(const char* name) {
    ereport(ERROR,
            (errcode(ERRCODE_UNDEFINED_OBJECT),
             errmsg("bottledwater: publication \"%s\" does not exist", name),
             errhint("Create it in this database with CREATE PUBLICATION, or change "
                     "bottledwater.publication (publication_names for SQL consumers).")));
    pg_unreachable();
}

}  // namespace

CaptureSet::CaptureSet(std::vector<std::string> publication_names, MemoryContext parent)
    : publication_names_(std::move(publication_names)), filter_context_(parent) {}

void CaptureSet::load_publications() {
    publications_.clear();
    for (const std::string& name : publication_names_) {
        Publication* publication = GetPublicationByName(name.c_str(), true);
        if (publication == nullptr) report_missing(name.c_str());
        publications_.push_back({publication->oid, publication->alltables,
                                 publication->pubviaroot, publication->pubactions});
    }
    publications_valid_ = true;
}

static void add_actions(PublicationActions& into, const PublicationActions& actions) {
    into.pubinsert |= actions.pubinsert;
    into.pubupdate |= actions.pubupdate;
    into.pubdelete |= actions.pubdelete;
    into.pubtruncate |= actions.pubtruncate;
}

// Not captured, until decided otherwise.
static void clear(TableCapture& capture) {
    capture.member = false;
    capture.actions = {false, false, false, false};
    capture.columns.clear();
    capture.stream_as = InvalidOid;
    free_row_filter(capture.row_filter);
    capture.row_filter = nullptr;
}

void CaptureSet::decide(TableCapture& capture, Relation relation) {
    clear(capture);
    // One publication that publishes the table: the relation its changes are sent as (itself,
    // or an ancestor under publish_via_partition_root) at that ancestor's level. As in pgoutput,
    // that relation's membership row holds the column list and row filter: a partition sent as
    // itself reads its own (none when it is listed only through its partitioned table, which
    // PostgreSQL lets have neither without publish_via_partition_root).
    struct Publishing {
        const PublicationRule* rule;
        Oid as_relid;
        int level;
    };
    const Oid relid = RelationGetRelid(relation);
    List* own = GetRelationPublications(relid);
    List* of_schema = GetSchemaPublications(RelationGetNamespace(relation));
    List* ancestors = relation->rd_rel->relispartition ? get_partition_ancestors(relid) : NIL;
    // palloc'd, not a std::vector: the catalog lookups below may ereport.
    Publishing* publishing =
        static_cast<Publishing*>(palloc(sizeof(Publishing) * (publications_.size() + 1)));
    int count = 0;
    int top_level = 0;
    for (const PublicationRule& publication : publications_) {
        Publishing entry = {&publication, relid, 0};
        const bool self_listed =
            list_member_oid(own, publication.oid) || list_member_oid(of_schema, publication.oid);
        bool publish = self_listed;
        if (publication.all_tables) {
            publish = true;
            if (publication.via_root && ancestors != NIL) {
                entry.as_relid = llast_oid(ancestors);
                entry.level = list_length(ancestors);
            }
        } else if (ancestors != NIL) {
            int level;
            Oid ancestor = GetTopMostAncestorInPublication(publication.oid, ancestors, &level);
            if (OidIsValid(ancestor)) {
                publish = true;
                if (publication.via_root) {
                    entry.as_relid = ancestor;
                    entry.level = level;
                }
            }
        }
        if (!publish) continue;
        capture.member = true;
        // A partitioned table's changes are its partitions', unless sent as their root.
        if (relation->rd_rel->relkind == RELKIND_PARTITIONED_TABLE && !publication.via_root)
            continue;
        add_actions(capture.actions, publication.actions);
        publishing[count++] = entry;
        top_level = Max(top_level, entry.level);
    }
    // As pgoutput: only the publications that send the table as its highest published ancestor
    // give it its column list and row filter; they must agree on the column list (FOR ALL
    // TABLES and schemas have none), and their filters are ORed per operation.
    bool first = true;
    RowFilterQuals quals;
    for (int i = 0; i < count; i++) {
        if (publishing[i].level != top_level) continue;
        const PublicationRule& publication = *publishing[i].rule;
        const Oid target = publishing[i].as_relid;
        if (target != relid) capture.stream_as = target;
        Node* qual = row_filter_of(publication.oid, target);
        add_qual(&quals.insert, &quals.insert_unfiltered, publication.actions.pubinsert, qual);
        add_qual(&quals.update, &quals.update_unfiltered, publication.actions.pubupdate, qual);
        add_qual(&quals.delete_, &quals.delete_unfiltered, publication.actions.pubdelete, qual);
        int2vector* list =
            publication.all_tables ? nullptr : column_list_of(publication.oid, target);
        if (first) {
            if (list) capture.columns.assign(list->values, list->values + list->dim1);
            first = false;
        } else if (!same_columns(capture.columns, list)) {
            ereport(ERROR,
                    (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                     errmsg("bottledwater: cannot use different column lists for table "
                            "\"%s.%s\" in different publications",
                            get_namespace_name(RelationGetNamespace(relation)),
                            RelationGetRelationName(relation)),
                     errhint("Give the table the same column list in every publication of "
                             "bottledwater.publication.")));
        }
    }
    if (count > 0) {
        Relation target = capture.stream_as != InvalidOid
                              ? RelationIdGetRelation(capture.stream_as)
                              : relation;
        capture.row_filter = compile_row_filter(target, quals, filter_context_);
        if (target != relation) RelationClose(target);
    }
    pfree(publishing);
    list_free(own);
    list_free(of_schema);
    list_free(ancestors);
}

// The extension's own tables (the progress of incremental snapshots) are bookkeeping that the
// worker writes itself: never captured, whatever the publications say.
static bool belongs_to_bottledwater(Relation relation) {
    const Oid extension = get_extension_oid("bottledwater", true);
    return OidIsValid(extension) &&
           getExtensionOfObject(RelationRelationId, RelationGetRelid(relation)) == extension;
}

const TableCapture& CaptureSet::lookup(Relation relation) {
    TableCapture& capture = tables_[RelationGetRelid(relation)];
    if (capture.valid) return capture;
    capture.target_map.forget();
    if (belongs_to_bottledwater(relation)) {
        clear(capture);
    } else if (!filters()) {
        // Without publications a partition is streamed as its root table, one topic per tree.
        capture.member = true;
        capture.actions = kEveryAction;
        capture.columns.clear();
        capture.stream_as = relation->rd_rel->relispartition
                                ? llast_oid(get_partition_ancestors(RelationGetRelid(relation)))
                                : InvalidOid;
    } else {
        if (!publications_valid_) load_publications();
        decide(capture, relation);
    }
    capture.valid = true;
    return capture;
}

bool CaptureSet::publishes(Relation relation, ChangeOp op) {
    const PublicationActions& actions = lookup(relation).actions;
    switch (op) {
        case ChangeOp::Insert: return actions.pubinsert;
        case ChangeOp::Update: return actions.pubupdate;
        case ChangeOp::Delete: return actions.pubdelete;
        case ChangeOp::Truncate: return actions.pubtruncate;
    }
    return false;
}

void CaptureSet::forget_dropped() {
    sweep_.sweep(
        tables_, [](const TableCapture& capture) { return capture.valid; },
        [](Oid, TableCapture& capture) {
            free_row_filter(capture.row_filter);
            capture.target_map.forget();
        });
}

// The ancestor's entries too: a partition's map reads the ancestor's columns.
void CaptureSet::invalidate(Oid relid) {
    for (auto& entry : tables_)
        if (entry.first == relid || entry.second.stream_as == relid) entry.second.valid = false;
}

void CaptureSet::invalidate_all() {
    for (auto& entry : tables_) entry.second.valid = false;
}

void CaptureSet::invalidate_publications() {
    publications_valid_ = false;
    invalidate_all();
}

bool split_publication_names(const char* text, std::vector<std::string>* names) {
    char* copy = pstrdup(text);
    List* list = NIL;
    bool ok = SplitIdentifierString(copy, ',', &list);
    ListCell* cell;
    if (ok) foreach (cell, list) names->emplace_back(static_cast<const char*>(lfirst(cell)));
    list_free(list);
    pfree(copy);
    return ok;
}

const char* missing_publication(const char* names_text) {
    List* names = NIL;
    if (!SplitIdentifierString(pstrdup(names_text), ',', &names)) return nullptr;
    ListCell* cell;
    foreach (cell, names) {
        const char* name = static_cast<const char*>(lfirst(cell));
        if (!OidIsValid(get_publication_oid(name, true))) return name;
    }
    return nullptr;
}

static CaptureSet* attached_set = nullptr;

// ALTER PUBLICATION ... ADD/DROP TABLE, SET (...) and a table moved to a published schema all
// invalidate the table's relcache entry; these callbacks run at that point of the WAL.
static void relation_invalidated(Datum, Oid relid) {
    if (!attached_set) return;
    if (OidIsValid(relid))
        attached_set->invalidate(relid);
    else
        attached_set->invalidate_all();
}

// Membership rows (pg_publication_rel, pg_publication_namespace): any table's answer may change.
static void membership_invalidated(Datum, int, uint32) {
    if (attached_set) attached_set->invalidate_all();
}

// pg_publication itself: publish operations, FOR ALL TABLES, a dropped publication.
static void publication_invalidated(Datum, int, uint32) {
    if (attached_set) attached_set->invalidate_publications();
}

void attach_capture_invalidations(CaptureSet* set) {
    static bool registered = false;
    if (!registered) {
        CacheRegisterRelcacheCallback(relation_invalidated, (Datum)0);
        CacheRegisterSyscacheCallback(PUBLICATIONRELMAP, membership_invalidated, (Datum)0);
        CacheRegisterSyscacheCallback(PUBLICATIONNAMESPACEMAP, membership_invalidated, (Datum)0);
        CacheRegisterSyscacheCallback(PUBLICATIONOID, publication_invalidated, (Datum)0);
        registered = true;
    }
    attached_set = set;
}

}  // namespace bw
