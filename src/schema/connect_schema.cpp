// Connect schema JSON text (see connect_schema.h), with JsonConverter's member order: type,
// items or fields, optional, name, version, doc, parameters, default, and for a struct's member
// its field name last.
#include "schema/connect_schema.h"

#include "encode/json_text.h"

namespace bw {

static const char* connect_type_name(const AvroType& type) {
    if (!type.connect_type.empty()) return type.connect_type.c_str();
    switch (type.kind) {
        case AvroKind::Boolean: return "boolean";
        case AvroKind::Int: return "int32";
        case AvroKind::Long: return "int64";
        case AvroKind::Float: return "float";
        case AvroKind::Double: return "double";
        case AvroKind::Bytes: return "bytes";
        case AvroKind::Record: return "struct";
        case AvroKind::Array: return "array";
        default: return "string";  // strings and enums
    }
}

static void render(std::string& out, const AvroType& schema, const std::string* field_name);

// A union of "null" and one type is that type, optional; the model has no other unions here.
static void render_optional(std::string& out, const AvroType& type, bool optional,
                            const std::string* field_name) {
    out += R"({"type":)";
    append_json_string(out, connect_type_name(type));
    if (type.kind == AvroKind::Array) {
        out += R"(,"items":)";
        render(out, *type.items, nullptr);
    } else if (type.kind == AvroKind::Record) {
        out += R"(,"fields":[)";
        for (size_t i = 0; i < type.fields.size(); i++) {
            if (i > 0) out += ',';
            render(out, *type.fields[i].type, &type.fields[i].name);
        }
        out += ']';
    }
    out += optional ? R"(,"optional":true)" : R"(,"optional":false)";
    if (!type.connect_name.empty()) {
        out += R"(,"name":)";
        append_json_string(out, type.connect_name);
    }
    if (type.connect_version != 0)
        out += R"(,"version":)" + std::to_string(type.connect_version);
    if (!type.connect_doc.empty()) {
        out += R"(,"doc":)";
        append_json_string(out, type.connect_doc);
    }
    if (!type.connect_parameters.empty()) {
        out += R"(,"parameters":)";
        append_json_string_object(out, type.connect_parameters);
    }
    if (!type.connect_default_json.empty()) out += R"(,"default":)" + type.connect_default_json;
    if (field_name) {
        out += R"(,"field":)";
        append_json_string(out, *field_name);
    }
    out += '}';
}

static void render(std::string& out, const AvroType& schema, const std::string* field_name) {
    if (schema.kind != AvroKind::Union) {
        render_optional(out, schema, false, field_name);
        return;
    }
    for (const AvroTypePtr& branch : schema.branches)
        if (branch->kind != AvroKind::Null) {
            render_optional(out, *branch, true, field_name);
            return;
        }
}

std::string render_connect_schema(const AvroType& schema) {
    std::string out;
    render(out, schema, nullptr);
    return out;
}

}  // namespace bw
