// Type mapping, decode side, for the debezium envelope: the Kafka Connect types Debezium's
// PostgreSQL connector gives each PostgreSQL type under its defaults (decimal.handling.mode =
// precise, time.precision.mode = adaptive, binary as bytes), with its semantic type names. Types
// it has no mapping of its own for fall back to bottledwater's (value_codec.cpp); README lists
// where the two differ.
#include "decode/value_codec.h"

extern "C" {
#include "access/htup_details.h"
#include "catalog/pg_enum.h"
#include "catalog/pg_type.h"
#include "datatype/timestamp.h"
#include "utils/builtins.h"
#include "utils/catcache.h"
#include "utils/date.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/varbit.h"
}

#include <algorithm>
#include <cmath>
#include <string>

#include "encode/decimal_bytes.h"

namespace bw {

static constexpr int64 kUnixEpochOffsetMicros =
    (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY;
// Debezium's MicroDuration counts a month as the average month of the Julian year.
static constexpr double kDaysPerMonth = 365.25 / 12;
static constexpr const char* kUnavailable = "__debezium_unavailable_value";

static AvroTypePtr semantic(AvroKind kind, const char* name,
                            std::vector<std::pair<std::string, std::string>> parameters = {}) {
    auto type = std::make_shared<AvroType>();
    type->kind = kind;
    type->connect_name = name;
    type->connect_version = 1;
    type->connect_parameters = std::move(parameters);
    return type;
}

static AvroTypePtr connect_decimal(int scale, int precision) {
    auto type = std::make_shared<AvroType>(*AvroType::decimal(precision, scale));
    type->connect_name = "org.apache.kafka.connect.data.Decimal";
    type->connect_version = 1;
    type->connect_parameters = {{"scale", std::to_string(scale)}};
    if (precision > 0)
        type->connect_parameters.emplace_back("connect.decimal.precision",
                                              std::to_string(precision));
    return type;
}

static AvroTypePtr variable_scale_decimal() {
    auto type = std::make_shared<AvroType>();
    type->kind = AvroKind::Record;
    type->full_name = type->connect_name = "io.debezium.data.VariableScaleDecimal";
    type->connect_version = 1;
    type->connect_doc = "Variable scaled decimal";
    type->fields = {{"scale", AvroType::primitive(AvroKind::Int)},
                    {"value", AvroType::primitive(AvroKind::Bytes)}};
    return type;
}

// The labels of an enum in their sort order, comma-separated, as Debezium's "allowed".
static std::string enum_labels(Oid type_oid) {
    CatCList* list = SearchSysCacheList1(ENUMTYPOIDNAME, ObjectIdGetDatum(type_oid));
    std::vector<std::pair<float4, std::string>> labels;
    for (int i = 0; i < list->n_members; i++) {
        Form_pg_enum label = (Form_pg_enum)GETSTRUCT(&list->members[i]->tuple);
        labels.emplace_back(label->enumsortorder, NameStr(label->enumlabel));
    }
    ReleaseSysCacheList(list);
    std::sort(labels.begin(), labels.end());
    std::string allowed;
    for (const auto& label : labels) {
        if (!allowed.empty()) allowed += ',';
        allowed += label.second;
    }
    return allowed;
}

// Seconds' digits of a time or timestamp column: its precision, 6 when undeclared.
static int time_precision(int32 typmod) {
    return typmod >= 0 ? typmod : 6;
}

bool ValueCodec::resolve_connect(Oid base, int32 typmod) {
    auto set = [this](Kind kind, AvroTypePtr type) {
        kind_ = kind;
        value_type_ = std::move(type);
    };
    int precision, scale;
    if (get_typtype(base) == TYPTYPE_ENUM) {
        set(Kind::TextForm,
            semantic(AvroKind::String, "io.debezium.data.Enum", {{"allowed", enum_labels(base)}}));
        return true;
    }
    switch (base) {
        case INT2OID: {
            auto type = std::make_shared<AvroType>(*AvroType::primitive(AvroKind::Int));
            type->connect_type = "int16";
            set(Kind::Int2, type);
            return true;
        }
        case NUMERICOID:
            if (numeric_declared_scale(typmod, precision, scale))
                set(Kind::NumericDecimal, connect_decimal(scale, precision));
            else
                set(Kind::VariableScaleDecimal, variable_scale_decimal());
            return true;
        case CASHOID: set(Kind::Money, connect_decimal(money_scale(), 0)); return true;
        case JSONOID:
            set(Kind::VarlenaText, semantic(AvroKind::String, "io.debezium.data.Json"));
            return true;
        case JSONBOID:
            set(Kind::TextForm, semantic(AvroKind::String, "io.debezium.data.Json"));
            return true;
        case XMLOID:
            set(Kind::VarlenaText, semantic(AvroKind::String, "io.debezium.data.Xml"));
            return true;
        case UUIDOID:
            set(Kind::Uuid, semantic(AvroKind::String, "io.debezium.data.Uuid"));
            return true;
        case DATEOID:
            set(Kind::Date, semantic(AvroKind::Int, "io.debezium.time.Date"));
            return true;
        case TIMEOID:
            if (time_precision(typmod) <= 3)
                set(Kind::TimeMillis, semantic(AvroKind::Int, "io.debezium.time.Time"));
            else
                set(Kind::Time, semantic(AvroKind::Long, "io.debezium.time.MicroTime"));
            return true;
        case TIMETZOID:
            set(Kind::ZonedTime, semantic(AvroKind::String, "io.debezium.time.ZonedTime"));
            return true;
        case TIMESTAMPOID:
            if (time_precision(typmod) <= 3)
                set(Kind::TimestampMillis, semantic(AvroKind::Long, "io.debezium.time.Timestamp"));
            else
                set(Kind::Timestamp, semantic(AvroKind::Long, "io.debezium.time.MicroTimestamp"));
            return true;
        case TIMESTAMPTZOID:
            fraction_digits_ = time_precision(typmod);
            set(Kind::ZonedTimestamp,
                semantic(AvroKind::String, "io.debezium.time.ZonedTimestamp"));
            return true;
        case INTERVALOID:
            set(Kind::MicroDuration, semantic(AvroKind::Long, "io.debezium.time.MicroDuration"));
            return true;
        case BITOID:
        case VARBITOID:
            if (base == BITOID && typmod == 1) {
                set(Kind::Bit1, AvroType::primitive(AvroKind::Boolean));
                return true;
            }
            set(Kind::Bits,
                semantic(AvroKind::Bytes, "io.debezium.data.Bits",
                         {{"length", std::to_string(typmod >= 0 ? typmod : INT32_MAX)}}));
            return true;
        default: return false;
    }
}

// "HH:MM:SS", then the fraction's digits without trailing zeros, as java.time prints it.
static void append_time_of_day(std::string& out, int64 micros, int fraction_digits) {
    char text[32];
    int64 seconds = micros / USECS_PER_SEC;
    snprintf(text, sizeof text, "%02d:%02d:%02d", static_cast<int>(seconds / 3600),
             static_cast<int>(seconds / 60 % 60), static_cast<int>(seconds % 60));
    out += text;
    int fraction = static_cast<int>(micros % USECS_PER_SEC);
    if (fraction_digits < 0) {  // as few digits as the value needs
        if (fraction == 0) return;
        snprintf(text, sizeof text, ".%06d", fraction);
        std::string digits(text);
        while (digits.back() == '0') digits.pop_back();
        out += digits;
        return;
    }
    if (fraction_digits == 0) return;
    snprintf(text, sizeof text, ".%06d", fraction);
    out.append(text, 1 + std::min(fraction_digits, 6));
}

bool ValueCodec::write_connect_value(RowWriter& writer, Datum value) const {
    switch (kind_) {
        case Kind::VariableScaleDecimal: {
            char* text = OutputFunctionCall(const_cast<FmgrInfo*>(&output_function_), value);
            const char* point = strchr(text, '.');
            std::string bytes = decimal_text_to_unscaled_bytes(text);
            writer.begin_record(*value_type_);
            writer.field(value_type_->fields[0]);
            writer.write_int(point ? static_cast<int32_t>(strlen(point + 1)) : 0);
            writer.field(value_type_->fields[1]);
            writer.write_bytes(bytes.data(), bytes.size());
            writer.end_record();
            return true;
        }
        case Kind::TimeMillis:
            writer.write_int(static_cast<int32_t>(DatumGetTimeADT(value) / 1000));
            return true;
        case Kind::TimestampMillis: {
            int64 micros = DatumGetTimestamp(value) + kUnixEpochOffsetMicros;
            writer.write_long(micros >= 0 ? micros / 1000 : -((-micros + 999) / 1000));
            return true;
        }
        case Kind::ZonedTime: {
            const TimeTzADT* time = DatumGetTimeTzADTP(value);
            int64 utc = time->time + static_cast<int64>(time->zone) * USECS_PER_SEC;
            std::string text;
            append_time_of_day(text, (utc % USECS_PER_DAY + USECS_PER_DAY) % USECS_PER_DAY, -1);
            text += 'Z';
            writer.write_string(text);
            return true;
        }
        case Kind::ZonedTimestamp: {
            Timestamp timestamp = DatumGetTimestamp(value);
            struct pg_tm tm;
            fsec_t fsec;
            if (TIMESTAMP_NOT_FINITE(timestamp) ||
                timestamp2tm(timestamp, nullptr, &tm, &fsec, nullptr, nullptr) != 0) {
                writer.write_string(
                    OutputFunctionCall(const_cast<FmgrInfo*>(&output_function_), value));
                return true;
            }
            char date[32];
            snprintf(date, sizeof date, "%04d-%02d-%02dT", tm.tm_year, tm.tm_mon, tm.tm_mday);
            std::string text(date);
            append_time_of_day(
                text, ((tm.tm_hour * 60 + tm.tm_min) * 60 + tm.tm_sec) * USECS_PER_SEC + fsec,
                fraction_digits_);
            text += 'Z';
            writer.write_string(text);
            return true;
        }
        case Kind::MicroDuration: {
            // In doubles, as Debezium computes it, so that the rounding is the same.
            const Interval* interval = DatumGetIntervalP(value);
            double days = interval->month * kDaysPerMonth + interval->day;
            double micros = days * 24 * 3600 * 1e6 + static_cast<double>(interval->time);
            writer.write_long(static_cast<int64_t>(micros));
            return true;
        }
        case Kind::Bit1:
            writer.write_boolean(DatumGetVarBitP(value)->bit_dat[0] & 0x80);
            return true;
        case Kind::Bits: {
            // The bit string as an unsigned number, little-endian, as java.util.BitSet gives it.
            const VarBit* bits = DatumGetVarBitP(value);
            const int length = VARBITLEN(bits);
            std::string bytes((length + 7) / 8, '\0');
            for (int k = 0; k < length; k++) {
                if (!(VARBITS(bits)[k / 8] & (0x80 >> (k % 8)))) continue;
                const int position = length - 1 - k;
                char& byte = bytes[position / 8];
                byte = static_cast<char>(byte | (1 << (position % 8)));
            }
            writer.write_bytes(bytes.data(), bytes.size());
            return true;
        }
        default: return false;
    }
}

// What Debezium writes for a NOT NULL column the WAL gives no value for.
void ValueCodec::write_zero(RowWriter& writer) const {
    switch (value_type_->kind) {
        case AvroKind::Boolean: writer.write_boolean(false); return;
        case AvroKind::Int: writer.write_int(0); return;
        case AvroKind::Long: writer.write_long(0); return;
        case AvroKind::Float: writer.write_float(0); return;
        case AvroKind::Double: writer.write_double(0); return;
        case AvroKind::Bytes:
            if (value_type_->logical_type == "decimal")
                writer.write_bytes("", 1);  // zero, in one byte
            else
                writer.write_bytes("", 0);
            return;
        case AvroKind::Array:
            writer.begin_array(0);
            writer.end_array();
            return;
        case AvroKind::Record:
            writer.begin_record(*value_type_);
            writer.field(value_type_->fields[0]);
            writer.write_int(0);
            writer.field(value_type_->fields[1]);
            writer.write_bytes("", 1);
            writer.end_record();
            return;
        default: writer.write_string(""); return;
    }
}

void ValueCodec::write_unavailable(RowWriter& writer, bool required) const {
    const AvroType& type = *union_plain_;
    const bool placeholder =
        (value_type_->kind == AvroKind::String || value_type_->kind == AvroKind::Bytes) &&
        value_type_->logical_type.empty();
    if (required && !placeholder) {
        write_zero(writer);
        return;
    }
    if (!required) writer.begin_union(type, placeholder ? 1 : 0);
    if (!placeholder)
        writer.write_null();
    else if (value_type_->kind == AvroKind::String)
        writer.write_string(kUnavailable);
    else
        writer.write_bytes(kUnavailable, strlen(kUnavailable));
    if (!required) writer.end_union(type, placeholder ? 1 : 0);
}

}  // namespace bw
