// DROP DATABASE of a streamed database, and DROP EXTENSION bottledwater in one, are refused with
// a HINT: the worker holds the database's slot and comes back with every restart, so it must be
// stopped (bw_stop) first. Installed in every backend when the library is preloaded.
#pragma once

namespace bw {

void install_drop_guard();

}  // namespace bw
