// Evaluating publication row filters (see row_filter.h). As pgoutput: each operation's filter is
// the OR of the filters of the publications that publish it; a missing old row (an UPDATE that
// keeps the key, without REPLICA IDENTITY FULL) is judged by the new one, since PostgreSQL
// requires filtered columns to be part of the replica identity for updates and deletes.
#include "decode/row_filter.h"

extern "C" {
#include "executor/executor.h"
#include "executor/tuptable.h"
#include "nodes/makefuncs.h"
#include "optimizer/optimizer.h"
#include "utils/memutils.h"
}

namespace bw {

struct RowFilter {
    MemoryContext context;
    EState* estate;
    ExprContext* econtext;
    TupleTableSlot* slot;
    ExprState* insert;  // null: unfiltered
    ExprState* update;
    ExprState* delete_;
};

static ExprState* prepare(List* quals, bool unfiltered, EState* estate) {
    if (unfiltered || quals == NIL) return nullptr;
    Expr* expression =
        list_length(quals) == 1 ? (Expr*)linitial(quals) : makeBoolExpr(OR_EXPR, quals, -1);
    return ExecPrepareExpr(expression, estate);
}

RowFilter* compile_row_filter(Relation target, const RowFilterQuals& quals, MemoryContext parent) {
    if ((quals.insert_unfiltered || quals.insert == NIL) &&
        (quals.update_unfiltered || quals.update == NIL) &&
        (quals.delete_unfiltered || quals.delete_ == NIL))
        return nullptr;
    MemoryContext context =
        AllocSetContextCreate(parent, "bottledwater row filter", ALLOCSET_SMALL_SIZES);
    MemoryContext old = MemoryContextSwitchTo(context);
    RowFilter* filter = static_cast<RowFilter*>(palloc0(sizeof(RowFilter)));
    filter->context = context;
    filter->estate = CreateExecutorState();
    filter->econtext = GetPerTupleExprContext(filter->estate);
    // A copy: the relcache's descriptor would be pinned under whatever resource owner is current.
    filter->slot =
        MakeSingleTupleTableSlot(CreateTupleDescCopy(RelationGetDescr(target)), &TTSOpsHeapTuple);
    filter->insert = prepare((List*)copyObjectImpl(quals.insert), quals.insert_unfiltered,
                             filter->estate);
    filter->update = prepare((List*)copyObjectImpl(quals.update), quals.update_unfiltered,
                             filter->estate);
    filter->delete_ = prepare((List*)copyObjectImpl(quals.delete_), quals.delete_unfiltered,
                              filter->estate);
    MemoryContextSwitchTo(old);
    return filter;
}

void free_row_filter(RowFilter* filter) {
    if (filter == nullptr) return;
    ExecDropSingleTupleTableSlot(filter->slot);
    FreeExecutorState(filter->estate);
    MemoryContextDelete(filter->context);
}

// NULL counts as false, as in a WHERE clause.
static bool matches(RowFilter* filter, ExprState* state, HeapTuple tuple) {
    if (state == nullptr) return true;
    ExecStoreHeapTuple(tuple, filter->slot, false);
    filter->econtext->ecxt_scantuple = filter->slot;
    bool isnull;
    Datum result = ExecEvalExprSwitchContext(state, filter->econtext, &isnull);
    ResetExprContext(filter->econtext);
    ExecClearTuple(filter->slot);
    return !isnull && DatumGetBool(result);
}

bool filter_change(RowFilter* filter, ChangeOp op, HeapTuple old_tuple, HeapTuple new_tuple,
                   ChangeOp* send_as) {
    *send_as = op;
    if (filter == nullptr) return true;
    switch (op) {
        case ChangeOp::Insert: return matches(filter, filter->insert, new_tuple);
        case ChangeOp::Delete: return matches(filter, filter->delete_, old_tuple);
        case ChangeOp::Update: break;
        case ChangeOp::Truncate: return true;  // a truncate has no row to filter
    }
    if (filter->update == nullptr) return true;
    const bool new_matches = matches(filter, filter->update, new_tuple);
    const bool old_matches =
        old_tuple ? matches(filter, filter->update, old_tuple) : new_matches;
    if (old_matches && !new_matches) *send_as = ChangeOp::Delete;
    if (!old_matches && new_matches) *send_as = ChangeOp::Insert;
    return old_matches || new_matches;
}

bool filter_snapshot_row(RowFilter* filter, HeapTuple tuple) {
    return filter == nullptr || matches(filter, filter->insert, tuple);
}

}  // namespace bw
