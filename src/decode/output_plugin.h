// The `bottledwater` logical decoding output plugin. SQL consumers get rows through
// OutputPluginWrite; the worker, decoding in the same process, sets worker_change_sink before it
// creates its decoding context and receives the same encoded changes directly.
#pragma once

#include "encode/encoded_change.h"

namespace bw {

extern ChangeSink* worker_change_sink;

// A PostgreSQL timestamp (TimestampTz) as microseconds since the Unix epoch: how
// TransactionInfo holds commit times.
int64_t unix_micros(int64_t timestamp);

}  // namespace bw
