// Avro binary → Avro-JSON text through avro-c's generic values (see avro_binary_text.h). Only on
// the error path and for key changes (rare), so the schema is parsed each time, not cached.
#include "encode/avro_binary_text.h"

#include <avro.h>

#include <memory>
#include <stdexcept>

#include "encode/json_text.h"

namespace bw {

namespace {

struct SchemaRelease {
    void operator()(avro_obj_t* schema) const { avro_schema_decref(schema); }
};
struct ClassRelease {
    void operator()(avro_value_iface_t* iface) const { avro_value_iface_decref(iface); }
};
struct ReaderRelease {
    void operator()(avro_reader_t_* reader) const { avro_reader_free(reader); }
};

[[noreturn]] void fail(const char* step) {
    throw std::runtime_error(std::string("cannot show the Avro value as text (") + step +
                             "): " + avro_strerror());
}

void check(int rc, const char* step) {
    if (rc != 0) fail(step);
}

// A union branch is named by its full name, as the Avro-JSON encoder writes it.
std::string branch_name(avro_schema_t schema) {
    const char* space = is_avro_named_type(schema) ? avro_schema_namespace(schema) : nullptr;
    const std::string name = avro_schema_type_name(schema);
    return space != nullptr && *space != '\0' ? std::string(space) + "." + name : name;
}

// avro-c's own avro_value_to_json cannot be used: it calls libjansson's json_object(), and inside
// a PostgreSQL backend that name binds to PostgreSQL's SQL function json_object. So the value is
// walked here, written like the Avro-JSON encoder writes it.
// What separates a name from its value, and one item from the next.
struct Separators {
    const char* colon;
    const char* comma;
};

void append_value(std::string& out, avro_value_t& value, const Separators& sep) {
    switch (avro_value_get_type(&value)) {
        case AVRO_NULL: out += "null"; return;
        case AVRO_BOOLEAN: {
            int b = 0;
            check(avro_value_get_boolean(&value, &b), "boolean");
            out += b ? "true" : "false";
            return;
        }
        case AVRO_INT32: {
            int32_t i = 0;
            check(avro_value_get_int(&value, &i), "int");
            out += std::to_string(i);
            return;
        }
        case AVRO_INT64: {
            int64_t l = 0;
            check(avro_value_get_long(&value, &l), "long");
            out += std::to_string(l);
            return;
        }
        case AVRO_FLOAT: {
            float f = 0;
            check(avro_value_get_float(&value, &f), "float");
            append_json_float(out, f);
            return;
        }
        case AVRO_DOUBLE: {
            double d = 0;
            check(avro_value_get_double(&value, &d), "double");
            append_json_double(out, d);
            return;
        }
        case AVRO_STRING: {
            const char* text = nullptr;
            size_t size = 0;  // with the terminating zero
            check(avro_value_get_string(&value, &text, &size), "string");
            append_json_string(out, std::string_view(text, size > 0 ? size - 1 : 0));
            return;
        }
        case AVRO_BYTES:
        case AVRO_FIXED: {
            const void* data = nullptr;
            size_t size = 0;
            check(avro_value_get_type(&value) == AVRO_BYTES
                      ? avro_value_get_bytes(&value, &data, &size)
                      : avro_value_get_fixed(&value, &data, &size),
                  "bytes");
            append_json_bytes(out, data, size);
            return;
        }
        case AVRO_ENUM: {
            int symbol = 0;
            check(avro_value_get_enum(&value, &symbol), "enum");
            append_json_string(out, avro_schema_enum_get(avro_value_get_schema(&value), symbol));
            return;
        }
        case AVRO_UNION: {
            avro_value_t branch;
            check(avro_value_get_current_branch(&value, &branch), "union");
            avro_schema_t schema = avro_value_get_schema(&branch);
            if (is_avro_null(schema)) {
                out += "null";
                return;
            }
            out += "{";
            append_json_string(out, branch_name(schema));
            out += sep.colon;
            append_value(out, branch, sep);
            out += "}";
            return;
        }
        case AVRO_RECORD:
        case AVRO_ARRAY:
        case AVRO_MAP: {
            const bool record = avro_value_get_type(&value) != AVRO_ARRAY;
            size_t count = 0;
            check(avro_value_get_size(&value, &count), "size");
            out += record ? "{" : "[";
            for (size_t i = 0; i < count; i++) {
                avro_value_t child;
                const char* name = nullptr;
                check(avro_value_get_by_index(&value, i, &child, &name), "child");
                if (i > 0) out += sep.comma;
                if (record) {
                    append_json_string(out, name ? name : "");
                    out += sep.colon;
                }
                append_value(out, child, sep);
            }
            out += record ? "}" : "]";
            return;
        }
        default: throw std::runtime_error("cannot show the Avro value as text: unknown type");
    }
}

}  // namespace

std::string avro_binary_as_json(const std::string& schema_json, std::string_view body,
                                JsonSpacing spacing) {
    avro_schema_t raw_schema = nullptr;
    if (avro_schema_from_json_length(schema_json.data(), schema_json.size(), &raw_schema) != 0)
        fail("schema");
    std::unique_ptr<avro_obj_t, SchemaRelease> schema(raw_schema);
    std::unique_ptr<avro_value_iface_t, ClassRelease> iface(
        avro_generic_class_from_schema(schema.get()));
    if (!iface) fail("class");
    avro_value_t value;
    check(avro_generic_value_new(iface.get(), &value), "value");
    std::unique_ptr<avro_value_t, void (*)(avro_value_t*)> owned(&value, avro_value_decref);
    std::unique_ptr<avro_reader_t_, ReaderRelease> reader(
        avro_reader_memory(body.data(), static_cast<int64_t>(body.size())));
    if (!reader) fail("reader");
    check(avro_value_read(reader.get(), &value), "read");
    std::string text;
    append_value(text, value,
                 spacing == JsonSpacing::Spaced ? Separators{": ", ", "} : Separators{":", ","});
    return text;
}

}  // namespace bw
