// Decode phase: a numeric's unscaled integer (its digits at its display scale, the point
// removed) read straight from its stored form, so that a decimal column is encoded without
// printing each value as text and parsing the text back.
#pragma once

extern "C" {
#include "postgres.h"
}

#include <cstdint>
#include <optional>

namespace bw {

// The value times 10^dscale, where dscale is the number of digits numeric_out prints after the
// point (a numeric(p, s) column's values have dscale s): the integer those printed digits form.
// Nothing for NaN and the infinities, or for a value whose unscaled integer needs more than 63
// bits; the caller then takes the text path.
std::optional<int64_t> numeric_unscaled_int64(Datum value);

}  // namespace bw
