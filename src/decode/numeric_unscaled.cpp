// A numeric's unscaled integer from its stored form (see numeric_unscaled.h). The layout is
// PostgreSQL's on-disk format, which pg_upgrade keeps from release to release: after the varlena
// header a 16-bit word whose top two bits say the form (00 positive, 01 negative, 10 short,
// 11 special), then base-10000 digits, most significant first.
#include "decode/numeric_unscaled.h"

extern "C" {
#include "fmgr.h"
#if PG_VERSION_NUM >= 160000
#include "varatt.h"
#endif
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
    // integer: PostgreSQL's digits end in the word that holds the last printed one. In 64
    // unsigned bits, whose hardware division is many times cheaper than 128-bit arithmetic.
    const int exponent = kDigitsPerWord * (weight - words + 1) + display_scale;
    if (exponent < -kDigitsPerWord) return std::nullopt;
    uint64_t magnitude = 0;
    for (int i = 0; i < words; i++) {
        int16_t digit;
        memcpy(&digit, data + digits_at + i * sizeof digit, sizeof digit);
        if (digit < 0 || digit >= 10000) return std::nullopt;
        if (__builtin_mul_overflow(magnitude, 10000u, &magnitude) ||
            __builtin_add_overflow(magnitude, static_cast<uint64_t>(digit), &magnitude))
            return std::nullopt;
    }
    for (int i = 0; i < exponent; i++)
        if (__builtin_mul_overflow(magnitude, 10u, &magnitude)) return std::nullopt;
    if (exponent < 0) {
        static constexpr uint64_t kPowersOfTen[] = {1, 10, 100, 1000, 10000};
        const uint64_t divisor = kPowersOfTen[-exponent];
        // Digits past the display scale are not PostgreSQL's form: the text decides then.
        if (magnitude % divisor != 0) return std::nullopt;
        magnitude /= divisor;
    }
    // -2^63 is the one magnitude past INT64_MAX that fits, negated.
    if (magnitude > static_cast<uint64_t>(INT64_MAX) + (negative ? 1 : 0)) return std::nullopt;
    return static_cast<int64_t>(negative ? 0 - magnitude : magnitude);
}

}  // namespace bw
