// The `bottledwater` logical decoding output plugin. SQL consumers get rows through
// OutputPluginWrite; the worker, decoding in the same process, sets worker_change_sink before it
// creates its decoding context and receives the same encoded changes directly.
#pragma once

#include "encode/encoded_change.h"

namespace bw {

extern ChangeSink* worker_change_sink;

}  // namespace bw
