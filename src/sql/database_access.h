// Who may drive the worker of a database: the worker reads every table of it and sends it to
// Kafka, so a role granted EXECUTE on bw_start, bw_stop or bw_drop_slot must also be allowed to
// connect to that database (superusers always are).
#pragma once

extern "C" {
#include "postgres.h"
}

namespace bw {

// The database's oid; an error unless it exists and the calling role has CONNECT on it.
Oid require_database_access(const char* dbname);

// The same for a database that may have been dropped since its worker started: only superusers
// may then act on it, as nobody else can be told to have access to it.
void require_database_access_if_exists(const char* dbname);

}  // namespace bw
