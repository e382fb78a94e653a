// Avro schema model for one table's key and value records: built by the decoder from a
// relation, rendered to the JSON text that is registered and shipped, and walked by the
// encoders so that the Avro binary and the Avro-JSON renderings always follow one schema.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bw {

enum class AvroKind {
    Null,
    Boolean,
    Int,
    Long,
    Float,
    Double,
    Bytes,
    String,
    Record,
    Enum,
    Array,
    Union
};

struct AvroType;
using AvroTypePtr = std::shared_ptr<const AvroType>;

struct AvroField {
    std::string name;
    AvroTypePtr type;
    // Nullable unions get "default": null so that added columns stay BACKWARD compatible.
    bool null_default = false;
};

struct AvroType {
    AvroKind kind = AvroKind::Null;
    std::string logical_type;       // "date", "time-micros", "timestamp-micros", "decimal", "uuid"
    int precision = 0;              // decimal only
    int scale = 0;                  // decimal only
    std::string full_name;          // Record and Enum: namespace-qualified name
    std::string doc;                // Record and Enum: the PostgreSQL object it stands for
    std::vector<AvroField> fields;  // Record
    std::vector<std::string> symbols;   // Enum
    AvroTypePtr items;                  // Array
    std::vector<AvroTypePtr> branches;  // Union

    // Kafka Connect's view of the type, for envelopes that speak Connect (see connect_schema.h):
    // its semantic name and version, parameters, Connect type where Avro's is wider ("int16"),
    // doc, and default value as JSON text. Empty for the row envelope's schemas.
    std::string connect_name;
    int connect_version = 0;
    std::vector<std::pair<std::string, std::string>> connect_parameters;
    std::string connect_type;
    std::string connect_doc;
    std::string connect_default_json;

    static AvroTypePtr primitive(AvroKind kind);
    static AvroTypePtr logical(AvroKind kind, std::string logical_type);
    static AvroTypePtr decimal(int precision, int scale);
    static AvroTypePtr array_of(AvroTypePtr items);
    static AvroTypePtr union_of(std::vector<AvroTypePtr> branches);
    // A PostgreSQL array that is not one dimension from 1: record {dims: [{lower, length}],
    // elements: [element]}, the elements in row-major order. Named bottledwater.md_array_<16 hex
    // digits of a hash of the element's schema>, so that each element type has a name of its own
    // and one schema may hold several.
    static AvroTypePtr multi_dimensional_array(AvroTypePtr element);

    bool is_named() const { return kind == AvroKind::Record || kind == AvroKind::Enum; }
    // The name that selects this branch of a union in the Avro JSON encoding.
    std::string_view union_branch_name() const;
};

// Renders a schema as compact JSON text, defining each named type once and referring to it by
// full name afterwards, as the Avro specification requires. Deterministic: same tree, same text.
std::string render_schema_json(const AvroType& schema);

}  // namespace bw
