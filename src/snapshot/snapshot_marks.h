// The consistent snapshot's rows, marked as Debezium's PostgreSQL connector marks its initial
// snapshot's (source.snapshot). A row is its table's last only once the next read finds none,
// and the snapshot's last once every later table is found empty: each mark is decided one row
// late, the scan holding the row read last back until then. Pure C++.
#pragma once

#include <optional>

#include "encode/encoded_change.h"

namespace bw {

// Debezium's order of precedence below the snapshot's last row (which SnapshotMarks::end()
// marks, whatever else it is): the snapshot's first, a table's last, a table's first, any other.
SnapshotMark snapshot_mark(bool first_in_snapshot, bool first_in_table, bool last_in_table);

// The tables are those scanned, in order: the snapshot's first row is the first table's first
// (none when that table is empty, as Debezium counts tables, not rows), and its last is the
// last row sent, whichever table it is of (Debezium relabels it so when the last tables are
// empty).
class SnapshotMarks {
public:
    // A table's scan begins.
    void begin_table();
    // A row is read: the row held back until now, if any, goes first with the mark returned,
    // and this one is held back in its place.
    std::optional<SnapshotMark> row_read();
    // The table's scan has found no more rows.
    void end_table();
    // The snapshot's end: the mark of the row still held back, if any.
    std::optional<SnapshotMark> end();

private:
    struct Position {
        bool first_table = false;
        bool first_in_table = false;
        bool last_in_table = false;
    };
    int tables_ = 0;
    bool table_has_rows_ = false;
    std::optional<Position> held_;
};

}  // namespace bw
