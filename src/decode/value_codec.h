// Type mapping, decode side: for one PostgreSQL type (a column, an array element or a composite
// field) the Avro type it becomes and the code that writes a Datum of it to a RowWriter.
// The mapping table is in README.md; anything not mapped is written as its text form.
#pragma once

extern "C" {
#include "postgres.h"
#include "fmgr.h"
#include "access/tupdesc.h"
#include "utils/array.h"
#include "utils/numeric.h"
}

#include <memory>
#include <vector>

#include "encode/row_writer.h"

namespace bw {

// Avro: bottledwater's own mapping (README, "Type mapping"). Connect: Debezium's, for the
// debezium envelope (value_codec_connect.cpp): its semantic types, no special branches, and
// values Debezium cannot hold (NaN in a numeric) as null.
enum class TypeMapping { Avro, Connect };

class ValueCodec {
public:
    // Looks the type up in the catalogs (domains resolve to their base type). Catalog memory and
    // function lookups go into `context`, which must outlive the codec.
    static std::unique_ptr<ValueCodec> for_type(Oid type_oid, int32 typmod, MemoryContext context,
                                                TypeMapping mapping = TypeMapping::Avro);

    // The nullable union a column or element of this type is written as: ["null", T] plus a
    // special branch where T cannot hold every value ("string" for infinite dates or NaN in a
    // decimal; for arrays T is the plain 1-D array and the special branch the record of any
    // other shape), plus, with `unchanged_toast`, the marker for a TOAST value the WAL omits.
    AvroTypePtr nullable_type(bool unchanged_toast) const {
        return unchanged_toast ? union_with_toast_ : union_plain_;
    }

    // The type itself, for a value that is never null (Connect's non-optional fields).
    const AvroTypePtr& value_type() const { return value_type_; }

    // Writes the union branch and the value. Call only with a detoastable Datum. `required`
    // writes value_type() without a union, and a null as the type's zero value, as Debezium
    // fills the NOT NULL columns a DEFAULT identity's old row lacks.
    void write(RowWriter& writer, Datum value, bool is_null, bool unchanged_toast,
               bool required = false) const;
    // Writes the marker branch of nullable_type(true).
    void write_unchanged_toast(RowWriter& writer) const;
    // Connect mapping: Debezium's placeholder for a TOAST value the WAL omits (strings and
    // bytes), null or the zero value for other types.
    void write_unavailable(RowWriter& writer, bool required) const;

    bool is_varlena() const { return type_length_ == -1; }

    // The relations (pg_class entries) of the composite types this codec reads, nested ones
    // included: an ALTER TYPE on one of them invalidates that relation alone, not the tables
    // that use the type, so their schemas must listen for it.
    void add_composite_relations(std::vector<Oid>& relids) const;

    enum class Kind {
        Boolean,
        Int2,
        Int4,
        Int8,
        Oid,
        Float4,
        Float8,
        NumericDecimal,
        Money,
        VarlenaText,
        Name,
        Bytea,
        Uuid,
        Date,
        Time,
        TimeTz,
        Timestamp,
        Interval,
        Array,
        Composite,
        TextForm,
        // Connect mapping only
        VariableScaleDecimal,
        TimeMillis,
        TimestampMillis,
        ZonedTime,
        ZonedTimestamp,
        MicroDuration,
        Bits,
        Bit1
    };

private:
    ValueCodec() = default;
    void resolve(Oid type_oid, int32 typmod, MemoryContext context);
    bool resolve_connect(Oid base, int32 typmod);
    bool write_connect_value(RowWriter& writer, Datum value) const;
    void write_zero(RowWriter& writer) const;
    AvroTypePtr build_nullable_type(bool unchanged_toast) const;
    void write_value(RowWriter& writer, Datum value) const;
    void write_special(RowWriter& writer, const char* text) const;
    void write_text(RowWriter& writer, const char* text, size_t length) const;
    void write_text_form(RowWriter& writer, Datum value) const;
    void write_array(RowWriter& writer, ArrayType* array, bool plain) const;
    void write_composite(RowWriter& writer, Datum value) const;

    TypeMapping mapping_ = TypeMapping::Avro;
    int fraction_digits_ = 6;  // ZonedTimestamp: the column's precision
    Kind kind_ = Kind::TextForm;
    Oid type_oid_ = InvalidOid;
    int16 type_length_ = 0;
    AvroTypePtr value_type_;    // T
    AvroTypePtr special_type_;  // the branch after T, or null
    AvroTypePtr union_plain_;
    AvroTypePtr union_with_toast_;
    FmgrInfo output_function_;  // text form: fallback, unconstrained numeric, specials
    bool convert_to_utf8_ = false;

    // Arrays
    std::unique_ptr<ValueCodec> element_;
    Oid element_type_oid_ = InvalidOid;
    int16 element_length_ = 0;
    bool element_by_value_ = false;
    char element_align_ = 'i';

    // Composites
    Oid type_relid_ = InvalidOid;
    TupleDesc row_descriptor_ = nullptr;
    std::vector<int> field_attnums_;  // 0-based, dropped attributes skipped
    std::vector<std::unique_ptr<ValueCodec>> fields_;
};

// Shared by the two mappings.
int money_scale();  // the lc_monetary currency's fraction digits, as cash_out() prints them
// A numeric(p,s) with 0 <= s <= p, as Avro's (and Connect's) decimals require.
bool numeric_declared_scale(int32 typmod, int& precision, int& scale);
bool numeric_is_special(Numeric number);  // NaN or an infinity

}  // namespace bw
