// Unit tests for the consistent snapshot's marks: what Debezium 3.6's initial snapshot writes in
// source.snapshot for the same tables, empty and single-row ones included.
#include "snapshot/snapshot_marks.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace bw {
namespace {

// The marks of the rows sent, in order, for tables of these many rows, as the scan drives them.
std::vector<std::string> marks_of(const std::vector<int>& table_rows) {
    SnapshotMarks marks;
    std::vector<std::string> sent;
    for (int rows : table_rows) {
        marks.begin_table();
        for (int i = 0; i < rows; i++)
            if (auto mark = marks.row_read()) sent.push_back(snapshot_mark_name(*mark));
        marks.end_table();
    }
    if (auto mark = marks.end()) sent.push_back(snapshot_mark_name(*mark));
    return sent;
}

using Marks = std::vector<std::string>;

TEST(SnapshotMarks, FirstAndLastOfEachTableAndOfTheSnapshot) {
    EXPECT_EQ(marks_of({2, 3, 2}),
              (Marks{"first", "last_in_data_collection", "first_in_data_collection", "true",
                     "last_in_data_collection", "first_in_data_collection", "last"}));
}

TEST(SnapshotMarks, OneTable) {
    EXPECT_EQ(marks_of({3}), (Marks{"first", "true", "last"}));
    EXPECT_EQ(marks_of({1}), (Marks{"last"}));
}

// A table's only row is its last before its first: "last_in_data_collection", but "first" in
// the first table.
TEST(SnapshotMarks, SingleRowTables) {
    EXPECT_EQ(marks_of({1, 2}), (Marks{"first", "first_in_data_collection", "last"}));
    EXPECT_EQ(marks_of({2, 1, 2}), (Marks{"first", "last_in_data_collection",
                                          "last_in_data_collection", "first_in_data_collection",
                                          "last"}));
    EXPECT_EQ(marks_of({2, 1}), (Marks{"first", "last_in_data_collection", "last"}));
}

// The last row sent is "last" whatever table it is of; the first table's first row alone is
// "first", so an empty first table leaves no row "first".
TEST(SnapshotMarks, EmptyTables) {
    EXPECT_EQ(marks_of({2, 0}), (Marks{"first", "last"}));
    EXPECT_EQ(marks_of({3, 0, 0}), (Marks{"first", "true", "last"}));
    EXPECT_EQ(marks_of({0, 2}), (Marks{"first_in_data_collection", "last"}));
    EXPECT_EQ(marks_of({2, 0, 2}), (Marks{"first", "last_in_data_collection",
                                          "first_in_data_collection", "last"}));
    EXPECT_EQ(marks_of({0, 0}), Marks{});
    EXPECT_EQ(marks_of({}), Marks{});
}

// The snapshot's last row is marked by end(), above every other mark (see the tests above).
TEST(SnapshotMarks, DebeziumsPrecedence) {
    EXPECT_EQ(snapshot_mark(true, true, true), SnapshotMark::First);
    EXPECT_EQ(snapshot_mark(false, true, true), SnapshotMark::LastInTable);
    EXPECT_EQ(snapshot_mark(false, true, false), SnapshotMark::FirstInTable);
    EXPECT_EQ(snapshot_mark(false, false, false), SnapshotMark::Row);
}

}  // namespace
}  // namespace bw
