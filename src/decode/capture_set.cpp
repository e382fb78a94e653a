// Publication membership of a table (see capture_set.h), decided as pgoutput's
// get_rel_sync_entry decides it: FOR ALL TABLES, the table's own publications, its schema's
// (FOR TABLES IN SCHEMA), and for a partition those of its ancestors.
#include "decode/capture_set.h"

extern "C" {
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "catalog/pg_publication_rel.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/varlena.h"
}

namespace bw {

namespace {

constexpr PublicationActions kEveryAction = {true, true, true, true};

[[noreturn]] void report_unsupported(const char* publication, Relation relation,
                                     const char* feature) {
    ereport(ERROR,
            (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
             errmsg("bottledwater: publication \"%s\" gives table \"%s.%s\" %s, which "
                    "bottledwater does not support yet",
                    publication, get_namespace_name(RelationGetNamespace(relation)),
                    RelationGetRelationName(relation), feature),
             errhint("Publish the table without it, or leave this publication out of "
                     "bottledwater.publication.")));
    pg_unreachable();
}

// Column lists and row filters live on a membership row (of `relation` or of the ancestor that
// is listed). Ignoring them would send columns or rows the publication holds back, so until they
// are honoured they are refused.
void refuse_unsupported_membership(const char* publication, Oid publication_oid, Oid member_relid,
                                   Relation relation) {
    HeapTuple row = SearchSysCache2(PUBLICATIONRELMAP, ObjectIdGetDatum(member_relid),
                                    ObjectIdGetDatum(publication_oid));
    if (!HeapTupleIsValid(row)) return;
    bool no_columns, no_filter;
    (void)SysCacheGetAttr(PUBLICATIONRELMAP, row, Anum_pg_publication_rel_prattrs, &no_columns);
    (void)SysCacheGetAttr(PUBLICATIONRELMAP, row, Anum_pg_publication_rel_prqual, &no_filter);
    ReleaseSysCache(row);
    if (!no_columns) report_unsupported(publication, relation, "a column list");
    if (!no_filter) report_unsupported(publication, relation, "a row filter (WHERE)");
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

CaptureSet::CaptureSet(std::vector<std::string> publication_names)
    : publication_names_(std::move(publication_names)) {}

void CaptureSet::load_publications() {
    publications_.clear();
    for (const std::string& name : publication_names_) {
        Publication* publication = GetPublicationByName(name.c_str(), true);
        if (publication == nullptr) report_missing(name.c_str());
        publications_.push_back({name, publication->oid, publication->alltables,
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

void CaptureSet::decide(TableCapture& capture, Relation relation) {
    capture.member = false;
    capture.actions = {false, false, false, false};
    Oid relid = RelationGetRelid(relation);
    List* own = GetRelationPublications(relid);
    List* of_schema = GetSchemaPublications(RelationGetNamespace(relation));
    List* ancestors = relation->rd_rel->relispartition ? get_partition_ancestors(relid) : NIL;
    for (const PublicationRule& publication : publications_) {
        int level;
        Oid published_ancestor =
            ancestors != NIL
                ? GetTopMostAncestorInPublication(publication.oid, ancestors, &level)
                : InvalidOid;
        bool listed = publication.all_tables || list_member_oid(own, publication.oid) ||
                      list_member_oid(of_schema, publication.oid) ||
                      OidIsValid(published_ancestor);
        if (!listed) continue;
        refuse_unsupported_membership(publication.name.c_str(), publication.oid, relid, relation);
        if (OidIsValid(published_ancestor))
            refuse_unsupported_membership(publication.name.c_str(), publication.oid,
                                          published_ancestor, relation);
        if (publication.via_root && ancestors != NIL)
            report_unsupported(publication.name.c_str(), relation,
                               "publish_via_partition_root");
        capture.member = true;
        // Changes of a partitioned table are its partitions' (publish_via_partition_root aside).
        if (relation->rd_rel->relkind != RELKIND_PARTITIONED_TABLE)
            add_actions(capture.actions, publication.actions);
    }
    list_free(own);
    list_free(of_schema);
    list_free(ancestors);
}

const TableCapture& CaptureSet::lookup(Relation relation) {
    TableCapture& capture = tables_[RelationGetRelid(relation)];
    if (capture.valid) return capture;
    if (!filters()) {
        capture.member = true;
        capture.actions = kEveryAction;
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
    }
    return false;
}

void CaptureSet::invalidate(Oid relid) {
    auto found = tables_.find(relid);
    if (found != tables_.end()) found->second.valid = false;
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
