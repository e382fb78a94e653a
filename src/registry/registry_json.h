// Registry phase: reads the Schema Registry's small JSON responses ({"id": 7}, {"schema": "..."},
// {"error_code": 409, "message": "..."}). Not a general JSON library: only the top-level string
// and number members are returned, everything else is checked for syntax and skipped.
#pragma once

#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>

namespace bw {

class MalformedJson : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Member name → value: strings unescaped to UTF-8, numbers as their JSON text.
using JsonFields = std::map<std::string, std::string, std::less<>>;

JsonFields read_top_level_fields(std::string_view json);

}  // namespace bw
