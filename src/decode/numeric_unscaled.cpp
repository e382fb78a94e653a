// A numeric's unscaled integer from its stored form (see numeric_unscaled.h). The layout is
// PostgreSQL's on-disk format, which pg_upgrade keeps from release to release: after the varlena
// header a 16-bit word whose top two bits say the form (00 positive, 01 negative, 10 short,
// 11 special), then base-10000 digits, most significant first.
#include "decode/numeric_unscaled.h"

extern "C" {
#include "fmgr.h"
}

#include <cstring>

namespace bw {

namespace {

constexpr uint16_t kFormMask = 0xC000;
constexpr uint16_t kNegative = 0x4000;
constexpr uint16_t kShort = 0x8000;
constexpr uint16_t kSpecial = 0xC000;
// The long form: the display scale in the low bits of the first word, the weight a second word.
constexpr uint16_t kLongScaleMask = 0x3FFF;
// The short form: sign, display scale and a 7-bit signed weight in the one word.
constexpr uint16_t kShortNegative = 0x2000;
constexpr uint16_t kShortScaleMask = 0x1F80;
constexpr int kShortScaleShift = 7;
constexpr uint16_t kShortWeightSign = 0x0040;
constexpr uint16_t kShortWeightMask = 0x003F;

constexpr int kDigitsPerWord = 4;  // base 10000
// 10^18 < 2^63: an integer of at most 18 decimal digits always fits.
constexpr int kMaxDecimalDigits = 18;

}  // namespace

std::optional<int64_t> numeric_unscaled_int64(Datum value) {
    struct varlena* stored = pg_detoast_datum_packed(reinterpret_cast<struct varlena*>(
        DatumGetPointer(value)));
    const char* data = VARDATA_ANY(stored);
    const size_t length = VARSIZE_ANY_EXHDR(stored);
    uint16_t header;
    if (length < sizeof header) return std::nullopt;
    memcpy(&header, data, sizeof header);
    if ((header & kFormMask) == kSpecial) return std::nullopt;

    bool negative;
    int display_scale;
    int weight;
    size_t digits_at;
    if ((header & kFormMask) == kShort) {
        negative = (header & kShortNegative) != 0;
        display_scale = (header & kShortScaleMask) >> kShortScaleShift;
        weight = header & kShortWeightMask;
        if (header & kShortWeightSign) weight -= kShortWeightMask + 1;
        digits_at = sizeof header;
    } else {
        int16_t long_weight;
        if (length < sizeof header + sizeof long_weight) return std::nullopt;
        negative = (header & kFormMask) == kNegative;
        display_scale = header & kLongScaleMask;
        memcpy(&long_weight, data + sizeof header, sizeof long_weight);
        weight = long_weight;
        digits_at = sizeof header + sizeof long_weight;
    }
    const int words = static_cast<int>((length - digits_at) / sizeof(int16_t));

    // value = sum of digit[i] * 10000^(weight - i); unscaled = value * 10^display_scale, an
    // integer: the stored digits end at or before the last printed one.
    const int exponent = kDigitsPerWord * (weight - words + 1) + display_scale;
    if (words * kDigitsPerWord + (exponent > 0 ? exponent : 0) > kMaxDecimalDigits + 4)
        return std::nullopt;
    __int128 unscaled = 0;
    for (int i = 0; i < words; i++) {
        int16_t digit;
        memcpy(&digit, data + digits_at + i * sizeof digit, sizeof digit);
        unscaled = unscaled * 10000 + digit;
    }
    for (int i = 0; i < exponent; i++) unscaled *= 10;
    for (int i = 0; i > exponent; i--) {
        if (unscaled % 10 != 0) return std::nullopt;  // not PostgreSQL's form: the text decides
        unscaled /= 10;
    }
    if (unscaled > static_cast<__int128>(INT64_MAX)) return std::nullopt;
    return negative ? -static_cast<int64_t>(unscaled) : static_cast<int64_t>(unscaled);
}

}  // namespace bw
