// What a replication slot holds back and whether it can still stream: the WAL it retains and its
// wal_status, as pg_replication_slots reports them. bw_status shows them for each worker's slot,
// and a worker refuses to stream from a slot PostgreSQL has invalidated.
#pragma once

extern "C" {
#include "postgres.h"
#include "access/xlogdefs.h"
}

namespace bw {

struct SlotRetention {
    bool exists = false;
    // reserved, extended, unreserved or lost (pg_replication_slots.wal_status); null if unknown.
    const char* wal_status = nullptr;
    // From the slot's restart_lsn to `current`; -1 when the slot retains nothing (lost).
    int64 retained_bytes = -1;
    // Why PostgreSQL invalidated the slot; null while it can stream.
    const char* invalidation = nullptr;
};

// Looks the slot up by name; `current` is the server's WAL position now.
SlotRetention slot_retention(const char* slot_name, XLogRecPtr current);

}  // namespace bw
