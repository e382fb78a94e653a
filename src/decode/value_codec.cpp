// Type mapping, decode side (see value_codec.h). Datums are read with PostgreSQL's own macros and
// handed to the RowWriter as plain values; values Avro cannot hold (infinite dates, NaN in a
// decimal) or that common Avro readers refuse to read back (a time of 24:00:00, dates and
// timestamps outside the years 1 to 9999) go to the "string" branch as PostgreSQL's text.
#include "decode/value_codec.h"

extern "C" {
#include "catalog/pg_type.h"
#include "datatype/timestamp.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/cash.h"
#include "utils/date.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/syscache.h"
#include "utils/pg_locale.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"
#include "utils/uuid.h"
}

#include "decode/numeric_unscaled.h"
#include "encode/decimal_bytes.h"
#include "schema/avro_names.h"

namespace bw {

static constexpr int64 kUnixEpochOffsetDays = POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE;
static constexpr int64 kUnixEpochOffsetMicros = kUnixEpochOffsetDays * USECS_PER_DAY;
// The years 1 to 9999 are what common Avro readers' date and time types hold (Python's
// datetime, .NET's DateTime): days since 2000-01-01, PostgreSQL's date epoch.
static constexpr int32 kFirstReadableDate = -730119;  // 0001-01-01
static constexpr int32 kLastReadableDate = 2921939;   // 9999-12-31
static_assert(kLastReadableDate - kFirstReadableDate == 3652058, "days of the years 1 to 9999");
// money is an int64 count of the currency's smallest unit; 19 digits hold any int64.
static constexpr int kMoneyPrecision = 19;

static AvroTypePtr unchanged_toast_marker() {
    auto marker = std::make_shared<AvroType>();
    marker->kind = AvroKind::Enum;
    marker->full_name = "bottledwater.unchanged_toast_value";
    marker->doc =
        "a TOASTed value the UPDATE left unchanged and the WAL does not carry; "
        "set REPLICA IDENTITY FULL on the table to receive the value itself";
    marker->symbols = {"unchanged"};
    return marker;
}

static AvroTypePtr interval_record() {
    auto record = std::make_shared<AvroType>();
    record->kind = AvroKind::Record;
    record->full_name = "bottledwater.interval";
    record->doc =
        "PostgreSQL interval: months, days and microseconds, kept apart as PostgreSQL does";
    record->fields = {{"months", AvroType::primitive(AvroKind::Int), false},
                      {"days", AvroType::primitive(AvroKind::Int), false},
                      {"micros", AvroType::primitive(AvroKind::Long), false}};
    return record;
}

int money_scale() {
    int digits = PGLC_localeconv()->frac_digits;
    return (digits < 0 || digits > 10) ? 2 : digits;  // as cash_out() does
}

bool numeric_is_special(Numeric number) {
    return numeric_is_nan(number) || numeric_is_inf(number);
}

// numeric(p,s) typmods, decoded as numeric.c does (PostgreSQL 15 allows negative scales).
bool numeric_declared_scale(int32 typmod, int& precision, int& scale) {
    if (typmod < (int32)VARHDRSZ) return false;
    precision = ((typmod - VARHDRSZ) >> 16) & 0xffff;
    scale = (((typmod - VARHDRSZ) & 0x7ff) ^ 1024) - 1024;
    // Avro requires 0 <= scale <= precision; other declarations stay text.
    return scale >= 0 && scale <= precision;
}

std::unique_ptr<ValueCodec> ValueCodec::for_type(Oid type_oid, int32 typmod,
                                                 MemoryContext context, TypeMapping mapping) {
    std::unique_ptr<ValueCodec> codec(new ValueCodec());
    codec->mapping_ = mapping;
    codec->resolve(type_oid, typmod, context);
    codec->union_plain_ = codec->build_nullable_type(false);
    codec->union_with_toast_ = codec->build_nullable_type(true);
    return codec;
}

// XXX: a catalog lookup that fails here longjmps past the codecs under construction and leaks
// them; such a failure ends the decoding session anyway.
void ValueCodec::resolve(Oid type_oid, int32 typmod, MemoryContext context) {
    Oid base = getBaseTypeAndTypmod(type_oid, &typmod);
    type_oid_ = base;
    type_length_ = get_typlen(base);
    convert_to_utf8_ = GetDatabaseEncoding() != PG_UTF8 && GetDatabaseEncoding() != PG_SQL_ASCII;

    Oid output_oid;
    bool output_is_varlena;
    getTypeOutputInfo(base, &output_oid, &output_is_varlena);
    fmgr_info_cxt(output_oid, &output_function_, context);

    auto set = [this](Kind kind, AvroTypePtr type, bool string_branch = false) {
        kind_ = kind;
        value_type_ = std::move(type);
        if (string_branch) special_type_ = AvroType::primitive(AvroKind::String);
    };
    auto primitive = AvroType::primitive;
    int precision, scale;
    Oid element_oid = get_element_type(base);

    if (OidIsValid(element_oid)) {
        // PostgreSQL does not hold a value to its column's declared dimensions, so the schema
        // does not follow them: any dimension count and lower bounds fit the special branch.
        element_ = for_type(element_oid, typmod, context, mapping_);
        get_typlenbyvalalign(element_oid, &element_length_, &element_by_value_, &element_align_);
        element_type_oid_ = element_oid;
        set(Kind::Array, AvroType::array_of(element_->nullable_type(false)));
        // Connect arrays have one dimension: any other shape is sent as its elements in order.
        if (mapping_ == TypeMapping::Avro)
            special_type_ = AvroType::multi_dimensional_array(element_->nullable_type(false));
        return;
    }
    if (mapping_ == TypeMapping::Connect && resolve_connect(base, typmod)) return;
    if (get_typtype(base) == TYPTYPE_COMPOSITE && mapping_ == TypeMapping::Avro) {
        TupleDesc cached = lookup_rowtype_tupdesc(base, typmod);
        MemoryContext old = MemoryContextSwitchTo(context);
        row_descriptor_ = CreateTupleDescCopy(cached);
        MemoryContextSwitchTo(old);
        ReleaseTupleDesc(cached);

        type_relid_ = get_typ_typrelid(base);
        auto record = std::make_shared<AvroType>();
        record->kind = AvroKind::Record;
        HeapTuple type_tuple = SearchSysCache1(TYPEOID, ObjectIdGetDatum(base));
        if (!HeapTupleIsValid(type_tuple)) elog(ERROR, "cache lookup failed for type %u", base);
        Form_pg_type type_form = (Form_pg_type)GETSTRUCT(type_tuple);
        const char* type_name = NameStr(type_form->typname);
        const char* namespace_name = get_namespace_name(type_form->typnamespace);
        record->full_name =
            std::string("bottledwater.") + avro_name(namespace_name) + "." + avro_name(type_name);
        record->doc = std::string("composite type ") + namespace_name + "." + type_name;
        ReleaseSysCache(type_tuple);
        std::vector<std::string> attribute_names;
        for (int i = 0; i < row_descriptor_->natts; i++) {
            Form_pg_attribute attribute = TupleDescAttr(row_descriptor_, i);
            if (attribute->attisdropped) continue;
            field_attnums_.push_back(i);
            fields_.push_back(for_type(attribute->atttypid, attribute->atttypmod, context));
            attribute_names.emplace_back(NameStr(attribute->attname));
        }
        std::vector<std::string> field_names = avro_field_names(attribute_names);
        for (size_t i = 0; i < fields_.size(); i++)
            record->fields.push_back({field_names[i], fields_[i]->nullable_type(false), true});
        set(Kind::Composite, record);
        return;
    }

    switch (base) {
        case BOOLOID: set(Kind::Boolean, primitive(AvroKind::Boolean)); break;
        case INT2OID: set(Kind::Int2, primitive(AvroKind::Int)); break;
        case INT4OID: set(Kind::Int4, primitive(AvroKind::Int)); break;
        case INT8OID: set(Kind::Int8, primitive(AvroKind::Long)); break;
        case OIDOID: set(Kind::Oid, primitive(AvroKind::Long)); break;
        case FLOAT4OID: set(Kind::Float4, primitive(AvroKind::Float)); break;
        case FLOAT8OID: set(Kind::Float8, primitive(AvroKind::Double)); break;
        case NUMERICOID:
            if (numeric_declared_scale(typmod, precision, scale))
                set(Kind::NumericDecimal, AvroType::decimal(precision, scale), true);
            else
                set(Kind::TextForm, primitive(AvroKind::String));
            break;
        case CASHOID: set(Kind::Money, AvroType::decimal(kMoneyPrecision, money_scale())); break;
        case TEXTOID:
        case VARCHAROID:
        case BPCHAROID:
        case JSONOID:
        case XMLOID: set(Kind::VarlenaText, primitive(AvroKind::String)); break;
        case NAMEOID: set(Kind::Name, primitive(AvroKind::String)); break;
        case BYTEAOID: set(Kind::Bytea, primitive(AvroKind::Bytes)); break;
        case UUIDOID: set(Kind::Uuid, AvroType::logical(AvroKind::String, "uuid")); break;
        case DATEOID: set(Kind::Date, AvroType::logical(AvroKind::Int, "date"), true); break;
        case TIMEOID:
            set(Kind::Time, AvroType::logical(AvroKind::Long, "time-micros"), true);
            break;
        case TIMETZOID:
            set(Kind::TimeTz, AvroType::logical(AvroKind::Long, "timestamp-micros"), true);
            break;
        case TIMESTAMPOID:
        case TIMESTAMPTZOID:
            set(Kind::Timestamp, AvroType::logical(AvroKind::Long, "timestamp-micros"), true);
            break;
        case INTERVALOID:
            // PostgreSQL 17 added infinite intervals.
            set(Kind::Interval, interval_record(), PG_VERSION_NUM >= 170000);
            break;
        default: set(Kind::TextForm, primitive(AvroKind::String)); break;
    }
}

void ValueCodec::add_composite_relations(std::vector<Oid>& relids) const {
    if (element_) element_->add_composite_relations(relids);
    if (OidIsValid(type_relid_)) relids.push_back(type_relid_);
    for (const auto& field : fields_) field->add_composite_relations(relids);
}

AvroTypePtr ValueCodec::build_nullable_type(bool unchanged_toast) const {
    std::vector<AvroTypePtr> branches = {AvroType::primitive(AvroKind::Null), value_type_};
    if (special_type_) branches.push_back(special_type_);
    if (unchanged_toast) branches.push_back(unchanged_toast_marker());
    return AvroType::union_of(std::move(branches));
}

// The text that goes to the "string" branch, or nullptr when the value fits T.
static const char* special_text(ValueCodec::Kind kind, Datum value, FmgrInfo* output_function) {
    switch (kind) {
        case ValueCodec::Kind::Date: {
            DateADT date = DatumGetDateADT(value);
            if (DATE_NOT_FINITE(date)) return DATE_IS_NOBEGIN(date) ? "-infinity" : "infinity";
            if (date < kFirstReadableDate || date > kLastReadableDate)
                return OutputFunctionCall(output_function, value);
            return nullptr;
        }
        case ValueCodec::Kind::Timestamp: {
            // Infinities print as "-infinity" and "infinity"; timestamptz compares in UTC.
            Timestamp timestamp = DatumGetTimestamp(value);
            if (timestamp < kFirstReadableDate * USECS_PER_DAY ||
                timestamp >= (kLastReadableDate + int64{1}) * USECS_PER_DAY)
                return OutputFunctionCall(output_function, value);
            return nullptr;
        }
        // 24:00:00 is a legal time of day in PostgreSQL, and 86400000000 a time-micros that
        // readers refuse; for timetz it would also fold onto 00:00:00 of the same zone.
        case ValueCodec::Kind::Time:
            if (DatumGetTimeADT(value) == USECS_PER_DAY)
                return OutputFunctionCall(output_function, value);
            return nullptr;
        case ValueCodec::Kind::TimeTz:
            if (DatumGetTimeTzADTP(value)->time == USECS_PER_DAY)
                return OutputFunctionCall(output_function, value);
            return nullptr;
        case ValueCodec::Kind::NumericDecimal: {
            Numeric number = DatumGetNumeric(value);
            if (numeric_is_nan(number) || numeric_is_inf(number))
                return OutputFunctionCall(output_function, value);
            return nullptr;
        }
#if PG_VERSION_NUM >= 170000
        case ValueCodec::Kind::Interval:
            if (INTERVAL_NOT_FINITE(DatumGetIntervalP(value)))
                return OutputFunctionCall(output_function, value);
            return nullptr;
#endif
        default: return nullptr;
    }
}

// The natural array: one dimension from 1, or empty (which has no dimensions).
static bool is_plain_array(const ArrayType* array) {
    return ARR_NDIM(array) == 0 || (ARR_NDIM(array) == 1 && ARR_LBOUND(array)[0] == 1);
}

void ValueCodec::write(RowWriter& writer, Datum value, bool is_null, bool unchanged_toast,
                       bool required) const {
    const AvroType& type = unchanged_toast ? *union_with_toast_ : *union_plain_;
    constexpr int kNull = 0, kValue = 1, kSpecial = 2;
    if (mapping_ == TypeMapping::Connect && !is_null && kind_ == Kind::NumericDecimal)
        is_null = numeric_is_special(DatumGetNumeric(value));
    if (mapping_ == TypeMapping::Connect && !is_null && kind_ == Kind::VariableScaleDecimal)
        is_null = numeric_is_special(DatumGetNumeric(value));
    if (required) {
        if (is_null)
            write_zero(writer);
        else if (kind_ == Kind::Array)
            write_array(writer, DatumGetArrayTypeP(value), true);
        else
            write_value(writer, value);
        return;
    }
    if (is_null) {
        writer.begin_union(type, kNull);
        writer.write_null();
        writer.end_union(type, kNull);
        return;
    }
    if (kind_ == Kind::Array) {
        ArrayType* array = DatumGetArrayTypeP(value);
        bool plain = !special_type_ || is_plain_array(array);
        writer.begin_union(type, plain ? kValue : kSpecial);
        write_array(writer, array, plain);
        writer.end_union(type, plain ? kValue : kSpecial);
        return;
    }
    const char* special =
        special_type_ ? special_text(kind_, value, const_cast<FmgrInfo*>(&output_function_))
                      : nullptr;
    int branch = special ? kSpecial : kValue;
    writer.begin_union(type, branch);
    if (special)
        writer.write_string(special);
    else
        write_value(writer, value);
    writer.end_union(type, branch);
}

void ValueCodec::write_unchanged_toast(RowWriter& writer) const {
    int branch = static_cast<int>(union_with_toast_->branches.size()) - 1;
    writer.begin_union(*union_with_toast_, branch);
    writer.write_enum(*union_with_toast_->branches[branch], 0);
    writer.end_union(*union_with_toast_, branch);
}

void ValueCodec::write_text(RowWriter& writer, const char* text, size_t length) const {
    if (convert_to_utf8_) {
        char* converted = pg_server_to_any(text, static_cast<int>(length), PG_UTF8);
        if (converted != text) length = strlen(converted);
        text = converted;
    }
    writer.write_string(std::string_view(text, length));
}

void ValueCodec::write_text_form(RowWriter& writer, Datum value) const {
    char* text = OutputFunctionCall(const_cast<FmgrInfo*>(&output_function_), value);
    write_text(writer, text, strlen(text));
}

void ValueCodec::write_value(RowWriter& writer, Datum value) const {
    switch (kind_) {
        case Kind::Boolean: writer.write_boolean(DatumGetBool(value)); return;
        case Kind::Int2: writer.write_int(DatumGetInt16(value)); return;
        case Kind::Int4: writer.write_int(DatumGetInt32(value)); return;
        case Kind::Int8: writer.write_long(DatumGetInt64(value)); return;
        case Kind::Oid: writer.write_long(DatumGetObjectId(value)); return;
        case Kind::Float4: writer.write_float(DatumGetFloat4(value)); return;
        case Kind::Float8: writer.write_double(DatumGetFloat8(value)); return;
        case Kind::NumericDecimal: {
            // Most values fit 63 bits and are read from the stored digits; others as text.
            const std::optional<int64_t> unscaled = numeric_unscaled_int64(value);
            std::string bytes =
                unscaled ? int64_to_unscaled_bytes(*unscaled)
                         : decimal_text_to_unscaled_bytes(OutputFunctionCall(
                               const_cast<FmgrInfo*>(&output_function_), value));
            writer.write_bytes(bytes.data(), bytes.size());
            return;
        }
        case Kind::Money: {
            std::string bytes = int64_to_unscaled_bytes(DatumGetCash(value));
            writer.write_bytes(bytes.data(), bytes.size());
            return;
        }
        case Kind::VarlenaText: {
            struct varlena* text = pg_detoast_datum_packed((struct varlena*)DatumGetPointer(value));
            write_text(writer, VARDATA_ANY(text), VARSIZE_ANY_EXHDR(text));
            return;
        }
        case Kind::Name: {
            const char* name = NameStr(*DatumGetName(value));
            write_text(writer, name, strlen(name));
            return;
        }
        case Kind::Bytea: {
            struct varlena* bytes =
                pg_detoast_datum_packed((struct varlena*)DatumGetPointer(value));
            writer.write_bytes(VARDATA_ANY(bytes), VARSIZE_ANY_EXHDR(bytes));
            return;
        }
        case Kind::Uuid: {
            const unsigned char* raw = DatumGetUUIDP(value)->data;
            char text[37];
            snprintf(text, sizeof text,
                     "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", raw[0],
                     raw[1], raw[2], raw[3], raw[4], raw[5], raw[6], raw[7], raw[8], raw[9],
                     raw[10], raw[11], raw[12], raw[13], raw[14], raw[15]);
            writer.write_string(std::string_view(text, 36));
            return;
        }
        case Kind::Date:
            writer.write_int(static_cast<int32_t>(DatumGetDateADT(value) + kUnixEpochOffsetDays));
            return;
        case Kind::Time: writer.write_long(DatumGetTimeADT(value)); return;
        case Kind::TimeTz: {
            // zone is seconds west of UTC: UTC = local time + zone, wrapped into one day so the
            // value is the UTC time of day on 1970-01-01.
            const TimeTzADT* time = DatumGetTimeTzADTP(value);
            int64 utc = time->time + static_cast<int64>(time->zone) * USECS_PER_SEC;
            writer.write_long((utc % USECS_PER_DAY + USECS_PER_DAY) % USECS_PER_DAY);
            return;
        }
        case Kind::Timestamp:
            writer.write_long(DatumGetTimestamp(value) + kUnixEpochOffsetMicros);
            return;
        case Kind::Interval: {
            const Interval* interval = DatumGetIntervalP(value);
            writer.begin_record(*value_type_);
            writer.field(value_type_->fields[0]);
            writer.write_int(interval->month);
            writer.field(value_type_->fields[1]);
            writer.write_int(interval->day);
            writer.field(value_type_->fields[2]);
            writer.write_long(interval->time);
            writer.end_record();
            return;
        }
        case Kind::Array: break;  // write() picks the array's branch and writes it
        case Kind::Composite: write_composite(writer, value); return;
        case Kind::TextForm: write_text_form(writer, value); return;
        default: write_connect_value(writer, value); return;
    }
}

void ValueCodec::write_array(RowWriter& writer, ArrayType* array, bool plain) const {
    Datum* items;
    bool* nulls;
    int count;
    deconstruct_array(array, element_type_oid_, element_length_, element_by_value_, element_align_,
                      &items, &nulls, &count);
    auto write_elements = [&] {
        writer.begin_array(count);
        for (int i = 0; i < count; i++) {
            writer.item();
            element_->write(writer, items[i], nulls[i], false);
        }
        writer.end_array();
    };
    if (plain) {
        write_elements();
        return;
    }
    const AvroType& record = *special_type_;
    const AvroType& dimension = *record.fields[0].type->items;
    int ndims = ARR_NDIM(array);
    writer.begin_record(record);
    writer.field(record.fields[0]);
    writer.begin_array(ndims);
    for (int d = 0; d < ndims; d++) {
        writer.item();
        writer.begin_record(dimension);
        writer.field(dimension.fields[0]);
        writer.write_int(ARR_LBOUND(array)[d]);
        writer.field(dimension.fields[1]);
        writer.write_int(ARR_DIMS(array)[d]);
        writer.end_record();
    }
    writer.end_array();
    writer.field(record.fields[1]);
    write_elements();
    writer.end_record();
}

void ValueCodec::write_composite(RowWriter& writer, Datum value) const {
    HeapTupleHeader header = DatumGetHeapTupleHeader(value);
    HeapTupleData tuple;
    tuple.t_len = HeapTupleHeaderGetDatumLength(header);
    ItemPointerSetInvalid(&tuple.t_self);
    tuple.t_tableOid = InvalidOid;
    tuple.t_data = header;
    int natts = row_descriptor_->natts;
    Datum* values = (Datum*)palloc(natts * sizeof(Datum));
    bool* nulls = (bool*)palloc(natts * sizeof(bool));
    heap_deform_tuple(&tuple, row_descriptor_, values, nulls);
    writer.begin_record(*value_type_);
    for (size_t i = 0; i < fields_.size(); i++) {
        writer.field(value_type_->fields[i]);
        int attnum = field_attnums_[i];
        fields_[i]->write(writer, values[attnum], nulls[attnum], false);
    }
    writer.end_record();
}

}  // namespace bw
