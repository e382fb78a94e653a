// Encode phase: optional values of Kafka Connect's schemas, which the model holds as a union of
// null and the type. Shared by the writers of Debezium's records (events, transaction records).
#pragma once

#include "encode/row_writer.h"

namespace bw {

inline AvroTypePtr optional_type(AvroTypePtr type) {
    return AvroType::union_of({AvroType::primitive(AvroKind::Null), std::move(type)});
}

// An optional type with a Connect default: AvroData puts the type first, so that the field's
// default is a value of the union's first branch, as Avro requires.
inline AvroTypePtr optional_with_default(AvroTypePtr type) {
    return AvroType::union_of({std::move(type), AvroType::primitive(AvroKind::Null)});
}

inline int null_branch(const AvroType& union_type) {
    return union_type.branches[0]->kind == AvroKind::Null ? 0 : 1;
}

// A present optional value: the union's branch that is not null, written by `write`.
template <typename Write>
void write_present(RowWriter& writer, const AvroType& union_type, Write write) {
    const int branch = 1 - null_branch(union_type);
    writer.begin_union(union_type, branch);
    write();
    writer.end_union(union_type, branch);
}

inline void write_absent(RowWriter& writer, const AvroType& union_type) {
    const int branch = null_branch(union_type);
    writer.begin_union(union_type, branch);
    writer.write_null();
    writer.end_union(union_type, branch);
}

}  // namespace bw
