// Encode phase: records and optional values of Kafka Connect's schemas (an optional value is a
// union of null and the type in the model). Shared by the writers of Debezium's records (events,
// transaction records).
#pragma once

#include <memory>
#include <string>

#include "encode/row_writer.h"

namespace bw {

// A record whose Connect name is its Avro full name, as Debezium's are; fields to be filled.
inline std::shared_ptr<AvroType> connect_record(std::string name, int connect_version = 1) {
    auto record = std::make_shared<AvroType>();
    record->kind = AvroKind::Record;
    record->full_name = record->connect_name = std::move(name);
    record->connect_version = connect_version;
    return record;
}

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
