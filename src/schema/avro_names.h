// Maps PostgreSQL identifiers (any Unicode, quoted, mixed case, leading digits) onto Avro names,
// which allow only [A-Za-z_][A-Za-z0-9_]*. The mapping is deterministic and documented in
// README.md.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace bw {

// Letters, digits and '_' are kept; every other character becomes _uXXXX_ (its Unicode code
// point in lowercase hex, at least four digits), a byte that is not valid UTF-8 becomes _xHH_,
// and a name that is empty or starts with a digit gets a leading '_'.
std::string avro_name(std::string_view identifier);

// Names for the fields of one record: avro_name() of each, with _2, _3, ... appended to later
// names that would collide with an earlier one (in column order), so every field stays distinct.
std::vector<std::string> avro_field_names(const std::vector<std::string>& identifiers);

}  // namespace bw
