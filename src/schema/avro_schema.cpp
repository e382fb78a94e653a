// Construction helpers for the schema model and its rendering to Avro schema JSON text.
#include "schema/avro_schema.h"

#include <cstdint>
#include <cstdio>
#include <set>

#include "encode/json_text.h"

namespace bw {

AvroTypePtr AvroType::primitive(AvroKind kind) {
    auto type = std::make_shared<AvroType>();
    type->kind = kind;
    return type;
}

AvroTypePtr AvroType::logical(AvroKind kind, std::string logical_type) {
    auto type = std::make_shared<AvroType>();
    type->kind = kind;
    type->logical_type = std::move(logical_type);
    return type;
}

AvroTypePtr AvroType::decimal(int precision, int scale) {
    auto type = std::make_shared<AvroType>();
    type->kind = AvroKind::Bytes;
    type->logical_type = "decimal";
    type->precision = precision;
    type->scale = scale;
    return type;
}

AvroTypePtr AvroType::array_of(AvroTypePtr items) {
    auto type = std::make_shared<AvroType>();
    type->kind = AvroKind::Array;
    type->items = std::move(items);
    return type;
}

AvroTypePtr AvroType::union_of(std::vector<AvroTypePtr> branches) {
    auto type = std::make_shared<AvroType>();
    type->kind = AvroKind::Union;
    type->branches = std::move(branches);
    return type;
}

// FNV-1a: stable across builds and platforms, so a name stays the same wherever it is computed.
static uint64_t fnv1a_64(std::string_view text) {
    uint64_t hash = 14695981039346656037ULL;
    for (unsigned char c : text) {
        hash ^= c;
        hash *= 1099511628211ULL;
    }
    return hash;
}

AvroTypePtr AvroType::multi_dimensional_array(AvroTypePtr element) {
    auto dimension = std::make_shared<AvroType>();
    dimension->kind = AvroKind::Record;
    dimension->full_name = "bottledwater.array_dimension";
    dimension->doc = "one dimension of a PostgreSQL array: its lower bound and its length";
    dimension->fields = {{"lower", primitive(AvroKind::Int), false},
                         {"length", primitive(AvroKind::Int), false}};

    char hash[17];
    snprintf(hash, sizeof hash, "%016llx",
             static_cast<unsigned long long>(fnv1a_64(render_schema_json(*element))));
    auto record = std::make_shared<AvroType>();
    record->kind = AvroKind::Record;
    record->full_name = std::string("bottledwater.md_array_") + hash;
    record->doc =
        "PostgreSQL array of other than one dimension from 1: its dimensions, outermost first, "
        "and its elements in row-major order";
    record->fields = {{"dims", array_of(dimension), false},
                      {"elements", array_of(std::move(element)), false}};
    return record;
}

static const char* primitive_name(AvroKind kind) {
    switch (kind) {
        case AvroKind::Null: return "null";
        case AvroKind::Boolean: return "boolean";
        case AvroKind::Int: return "int";
        case AvroKind::Long: return "long";
        case AvroKind::Float: return "float";
        case AvroKind::Double: return "double";
        case AvroKind::Bytes: return "bytes";
        case AvroKind::String: return "string";
        case AvroKind::Array: return "array";
        case AvroKind::Record: return "record";
        case AvroKind::Enum: return "enum";
        case AvroKind::Union: return "union";
    }
    return "null";
}

std::string_view AvroType::union_branch_name() const {
    return is_named() ? std::string_view(full_name) : std::string_view(primitive_name(kind));
}

namespace {

class SchemaRenderer {
public:
    explicit SchemaRenderer(std::string& out) : out_(out) {}

    void render(const AvroType& type) {
        switch (type.kind) {
            case AvroKind::Union:
                out_ += '[';
                for (size_t i = 0; i < type.branches.size(); i++) {
                    if (i > 0) out_ += ',';
                    render(*type.branches[i]);
                }
                out_ += ']';
                return;
            case AvroKind::Array:
                out_ += R"({"type":"array","items":)";
                render(*type.items);
                out_ += '}';
                return;
            case AvroKind::Record:
            case AvroKind::Enum: render_named(type); return;
            default: render_primitive(type);
        }
    }

private:
    void render_primitive(const AvroType& type) {
        if (type.logical_type.empty()) {
            append_json_string(out_, primitive_name(type.kind));
            return;
        }
        out_ += R"({"type":)";
        append_json_string(out_, primitive_name(type.kind));
        out_ += R"(,"logicalType":)";
        append_json_string(out_, type.logical_type);
        if (type.logical_type == "decimal") {
            out_ += ",\"precision\":" + std::to_string(type.precision);
            out_ += ",\"scale\":" + std::to_string(type.scale);
        }
        out_ += '}';
    }

    void render_named(const AvroType& type) {
        if (!defined_.insert(type.full_name).second) {
            append_json_string(out_, type.full_name);
            return;
        }
        out_ += R"({"type":)";
        append_json_string(out_, primitive_name(type.kind));
        out_ += R"(,"name":)";
        append_json_string(out_, type.full_name);
        if (!type.doc.empty()) {
            out_ += R"(,"doc":)";
            append_json_string(out_, type.doc);
        }
        if (type.kind == AvroKind::Enum) {
            out_ += R"(,"symbols":[)";
            for (size_t i = 0; i < type.symbols.size(); i++) {
                if (i > 0) out_ += ',';
                append_json_string(out_, type.symbols[i]);
            }
            out_ += "]}";
            return;
        }
        out_ += R"(,"fields":[)";
        for (size_t i = 0; i < type.fields.size(); i++) {
            const AvroField& field = type.fields[i];
            if (i > 0) out_ += ',';
            out_ += R"({"name":)";
            append_json_string(out_, field.name);
            out_ += R"(,"type":)";
            render(*field.type);
            if (field.null_default) out_ += R"(,"default":null)";
            out_ += '}';
        }
        out_ += "]}";
    }

    std::string& out_;
    std::set<std::string> defined_;
};

}  // namespace

std::string render_schema_json(const AvroType& schema) {
    std::string out;
    SchemaRenderer(out).render(schema);
    return out;
}

}  // namespace bw
