// The capture set: which tables, and which of their operations, a decoding session streams.
// Unset, it is every table; given publication names, it is what those publications say, with
// pgoutput's semantics, looked up in the catalog as it stands at the change being decoded (the
// historic snapshot), so ALTER PUBLICATION takes effect at its place in the WAL.
#pragma once

extern "C" {
#include "postgres.h"
#include "catalog/pg_publication.h"
#include "utils/rel.h"
}

#include <string>
#include <unordered_map>
#include <vector>

#include "decode/relation_sweep.h"
#include "decode/row_filter.h"
#include "decode/stream_target.h"
#include "encode/encoded_change.h"

namespace bw {

// Attribute numbers, ascending.
using ColumnList = std::vector<AttrNumber>;

// What the publications say about one table.
struct TableCapture {
    bool member = false;  // listed by a publication (the snapshot dumps it)
    PublicationActions actions = {false, false, false, false};
    ColumnList columns;  // the publications' column list; empty: every column
    // The ancestor whose topic and schema the changes go to (publish_via_partition_root, or a
    // partition without publications); InvalidOid: the table itself. `columns` are its columns.
    Oid stream_as = InvalidOid;
    RowFilter* row_filter = nullptr;  // in the target's attribute numbers; null: every row
    // Rows to stream_as's column order: a cache filled by the first change that needs it.
    mutable TargetMap target_map;
    bool valid = false;
};

class CaptureSet {
public:
    // No names: every table, every operation. Row filters and partition maps live in children of
// `parent`.
    CaptureSet(std::vector<std::string> publication_names, MemoryContext parent);

    bool filters() const { return !publication_names_.empty(); }
    const std::vector<std::string>& publication_names() const { return publication_names_; }

    // These may ereport: a publication named but missing is an ERROR with a HINT.
    const TableCapture& lookup(Relation relation);
    bool publishes(Relation relation, ChangeOp op);
    // Drops the entries of dropped relations when a sweep is due (see RelationSweep).
    void forget_dropped();

    void invalidate(Oid relid);
    void invalidate_all();
    void invalidate_publications();

private:
    struct PublicationRule {
        Oid oid;
        bool all_tables;
        bool via_root;
        PublicationActions actions;
    };
    void load_publications();
    void decide(TableCapture& capture, Relation relation);

    std::vector<std::string> publication_names_;
    MemoryContext filter_context_;
    std::vector<PublicationRule> publications_;
    bool publications_valid_ = false;
    std::unordered_map<Oid, TableCapture> tables_;
    RelationSweep sweep_;
};

// Splits a comma-separated list of publication names as pgoutput's publication_names does
// (identifiers: unquoted names fold to lower case). False on a syntax error.
bool split_publication_names(const char* text, std::vector<std::string>* names);

// Points the relcache and publication syscache callbacks (registered once per process) at `set`;
// nullptr detaches them when the decoding session ends.
void attach_capture_invalidations(CaptureSet* set);

// The first publication of a (valid) comma-separated list that does not exist in the current
// database, palloc'd, or nullptr. Needs a transaction.
const char* missing_publication(const char* names_text);

}  // namespace bw
