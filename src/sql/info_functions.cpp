// SQL functions that describe the extension: its version and the envelope schema of the Avro
// rows SQL consumers receive.
extern "C" {
#include "postgres.h"
#include "fmgr.h"
#include "utils/builtins.h"
}

#include "encode/sql_envelope.h"

extern "C" {

// BW_VERSION is the control file's default_version, passed in by the Makefile.
PG_FUNCTION_INFO_V1(bw_version);
Datum bw_version(PG_FUNCTION_ARGS) {
    PG_RETURN_TEXT_P(cstring_to_text(BW_VERSION));
}

PG_FUNCTION_INFO_V1(bw_envelope_schema);
Datum bw_envelope_schema(PG_FUNCTION_ARGS) {
    PG_RETURN_TEXT_P(cstring_to_text(bw::envelope_schema_json()));
}

}  // extern "C"
