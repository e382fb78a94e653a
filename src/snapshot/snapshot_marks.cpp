// The consistent snapshot's marks (see snapshot_marks.h).
#include "snapshot/snapshot_marks.h"

namespace bw {

SnapshotMark snapshot_mark(bool first_in_snapshot, bool first_in_table, bool last_in_table) {
    if (first_in_snapshot) return SnapshotMark::First;
    if (last_in_table) return SnapshotMark::LastInTable;
    if (first_in_table) return SnapshotMark::FirstInTable;
    return SnapshotMark::Row;
}

void SnapshotMarks::begin_table() {
    tables_++;
    table_has_rows_ = false;
}

std::optional<SnapshotMark> SnapshotMarks::row_read() {
    std::optional<SnapshotMark> sent;
    if (held_)
        sent = snapshot_mark(held_->first_table && held_->first_in_table, held_->first_in_table,
                             held_->last_in_table);
    held_ = Position{tables_ == 1, !table_has_rows_, false};
    table_has_rows_ = true;
    return sent;
}

void SnapshotMarks::end_table() {
    if (held_ && table_has_rows_) held_->last_in_table = true;
}

std::optional<SnapshotMark> SnapshotMarks::end() {
    if (!held_) return std::nullopt;
    held_.reset();
    return SnapshotMark::Last;
}

}  // namespace bw
