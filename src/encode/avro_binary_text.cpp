// Avro binary → Avro-JSON text with avro-c's generic values (see avro_binary_text.h). Only on
// the error path, so the schema is parsed each time rather than cached.
#include "encode/avro_binary_text.h"

#include <avro.h>

#include <cstdlib>
#include <memory>
#include <stdexcept>

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

}  // namespace

std::string avro_binary_as_json(const std::string& schema_json, std::string_view body) {
    avro_schema_t raw_schema = nullptr;
    if (avro_schema_from_json_length(schema_json.data(), schema_json.size(), &raw_schema) != 0)
        fail("schema");
    std::unique_ptr<avro_obj_t, SchemaRelease> schema(raw_schema);
    std::unique_ptr<avro_value_iface_t, ClassRelease> iface(
        avro_generic_class_from_schema(schema.get()));
    if (!iface) fail("class");
    avro_value_t value;
    if (avro_generic_value_new(iface.get(), &value) != 0) fail("value");
    std::unique_ptr<avro_value_t, void (*)(avro_value_t*)> owned(&value, avro_value_decref);
    std::unique_ptr<avro_reader_t_, ReaderRelease> reader(
        avro_reader_memory(body.data(), static_cast<int64_t>(body.size())));
    if (!reader) fail("reader");
    if (avro_value_read(reader.get(), &value) != 0) fail("read");
    char* json = nullptr;
    if (avro_value_to_json(&value, 1, &json) != 0) fail("json");
    std::string text(json);
    free(json);
    return text;
}

}  // namespace bw
