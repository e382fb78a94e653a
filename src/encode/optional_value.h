// Encode phase: optional values of Kafka Connect's schemas, which the model holds as a union of
// null and the type. Shared by the writers of Debezium's records (events, transaction records).
#pragma once

#include "encode/row_writer.h"

namespace bw {

inline AvroTypePtr optional_type(AvroTypePtr type) {
    return AvroType::union_of({AvroType::primitive(AvroKind::Null), std::move(type)});
}

// A present optional value: the union's second branch, written by `write`.
template <typename Write>
void write_present(RowWriter& writer, const AvroType& union_type, Write write) {
    writer.begin_union(union_type, 1);
    write();
    writer.end_union(union_type, 1);
}

inline void write_absent(RowWriter& writer, const AvroType& union_type) {
    writer.begin_union(union_type, 0);
    writer.write_null();
    writer.end_union(union_type, 0);
}

}  // namespace bw
