// Connect schemas as Avro schema JSON (see connect_avro_schema.h). What AvroData writes, in
// Avro's own rendering order: a named type once, then by its name; a record's namespace (in a
// definition or a reference) only where it differs from the enclosing one; an optional type as
// ["null", T] whose field defaults to null, or, where the Connect type has a default, as
// [T, "null"] with that default; a decimal's scale and precision (64 when Connect does not say,
// as AvroData assumes); a Connect doc only as connect.doc.
#include "schema/connect_avro_schema.h"

#include <set>

#include "encode/json_text.h"

namespace bw {

namespace {

constexpr int kUndeclaredDecimalPrecision = 64;

// The non-null branch of an optional type, or null for a type that is not optional.
const AvroType* optional_branch(const AvroType& type) {
    if (type.kind != AvroKind::Union) return nullptr;
    for (const AvroTypePtr& branch : type.branches)
        if (branch->kind != AvroKind::Null) return branch.get();
    return nullptr;
}

bool has_connect_properties(const AvroType& type) {
    return !type.connect_name.empty() || !type.connect_type.empty() ||
           !type.connect_doc.empty() || type.connect_version != 0 ||
           !type.connect_parameters.empty() || !type.connect_default_json.empty();
}

class ConnectAvroRenderer {
public:
    explicit ConnectAvroRenderer(std::string& out) : out_(out) {}

    void render(const AvroType& type, const std::string& enclosing_namespace) {
        switch (type.kind) {
            case AvroKind::Union:
                out_ += '[';
                for (size_t i = 0; i < type.branches.size(); i++) {
                    if (i > 0) out_ += ',';
                    render(*type.branches[i], enclosing_namespace);
                }
                out_ += ']';
                return;
            case AvroKind::Record: render_record(type, enclosing_namespace); return;
            case AvroKind::Array:
                out_ += R"({"type":"array","items":)";
                render(*type.items, enclosing_namespace);
                connect_properties(type);
                out_ += '}';
                return;
            default: render_primitive(type);
        }
    }

private:
    void render_primitive(const AvroType& type) {
        const bool decimal = type.logical_type == "decimal";
        if (!decimal && !has_connect_properties(type)) {
            append_json_string(out_, type.union_branch_name());
            return;
        }
        out_ += R"({"type":)";
        append_json_string(out_, type.union_branch_name());
        const int precision = type.precision > 0 ? type.precision : kUndeclaredDecimalPrecision;
        if (decimal)
            out_ += ",\"scale\":" + std::to_string(type.scale) +
                    ",\"precision\":" + std::to_string(precision);
        connect_properties(type);
        if (decimal) out_ += R"(,"logicalType":"decimal")";
        out_ += '}';
    }

    void render_record(const AvroType& type, const std::string& enclosing_namespace) {
        const std::string& full_name =
            type.connect_name.empty() ? type.full_name : type.connect_name;
        const size_t dot = full_name.rfind('.');
        const std::string space = dot == std::string::npos ? "" : full_name.substr(0, dot);
        if (!defined_.insert(full_name).second) {
            append_json_string(out_, space == enclosing_namespace ? full_name.substr(dot + 1)
                                                                  : full_name);
            return;
        }
        out_ += R"({"type":"record","name":)";
        append_json_string(out_, dot == std::string::npos ? full_name : full_name.substr(dot + 1));
        if (space != enclosing_namespace) {
            out_ += R"(,"namespace":)";
            append_json_string(out_, space);
        }
        out_ += R"(,"fields":[)";
        for (size_t i = 0; i < type.fields.size(); i++) {
            if (i > 0) out_ += ',';
            render_field(type.fields[i], space);
        }
        out_ += ']';
        connect_properties(type);
        out_ += '}';
    }

    void render_field(const AvroField& field, const std::string& space) {
        out_ += R"({"name":)";
        append_json_string(out_, field.name);
        out_ += R"(,"type":)";
        render(*field.type, space);
        const AvroType* present = optional_branch(*field.type);
        if (present && !present->connect_default_json.empty())
            out_ += R"(,"default":)" + present->connect_default_json;
        else if (present)
            out_ += R"(,"default":null)";
        out_ += '}';
    }

    // AvroData's annotations, in its order.
    void connect_properties(const AvroType& type) {
        if (!type.connect_doc.empty()) {
            out_ += R"(,"connect.doc":)";
            append_json_string(out_, type.connect_doc);
        }
        if (type.connect_version != 0)
            out_ += R"(,"connect.version":)" + std::to_string(type.connect_version);
        if (!type.connect_parameters.empty()) {
            out_ += R"(,"connect.parameters":)";
            append_json_string_object(out_, type.connect_parameters);
        }
        if (!type.connect_default_json.empty())
            out_ += R"(,"connect.default":)" + type.connect_default_json;
        if (!type.connect_name.empty()) {
            out_ += R"(,"connect.name":)";
            append_json_string(out_, type.connect_name);
        }
        if (!type.connect_type.empty()) {
            out_ += R"(,"connect.type":)";
            append_json_string(out_, type.connect_type);
        }
    }

    std::string& out_;
    std::set<std::string> defined_;
};

}  // namespace

std::string render_connect_avro_schema(const AvroType& schema) {
    std::string out;
    ConnectAvroRenderer(out).render(schema, "");
    return out;
}

}  // namespace bw
