// Row filters (CREATE PUBLICATION ... WHERE): which of a table's changes are sent, per operation,
// with pgoutput's rule for an UPDATE: a row that stops matching is sent as a delete of its key,
// one that starts matching as an insert of the new row.
#pragma once

extern "C" {
#include "postgres.h"
#include "access/htup.h"
#include "nodes/pg_list.h"
#include "utils/rel.h"
}

#include "encode/encoded_change.h"

namespace bw {

// Per operation (insert, update, delete): the publications' filters, ORed. An operation that
// some publication sends unfiltered has no entry.
struct RowFilterQuals {
    List* insert = NIL;
    List* update = NIL;
    List* delete_ = NIL;
    bool insert_unfiltered = false;
    bool update_unfiltered = false;
    bool delete_unfiltered = false;
};

struct RowFilter;

// Compiled for `target`, whose attribute numbers the quals use; lives in a child of `parent`.
// nullptr when no operation is filtered.
RowFilter* compile_row_filter(Relation target, const RowFilterQuals& quals, MemoryContext parent);
void free_row_filter(RowFilter* filter);

// What to send for a change of `op` (tuples in the target's format; `old_tuple` may be null):
// false to send nothing; otherwise `*send_as` is the operation to send it as.
bool filter_change(RowFilter* filter, ChangeOp op, HeapTuple old_tuple, HeapTuple new_tuple,
                   ChangeOp* send_as);

// Whether a snapshot row passes the insert filter.
bool filter_snapshot_row(RowFilter* filter, HeapTuple tuple);

}  // namespace bw
