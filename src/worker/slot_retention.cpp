// A slot's retained WAL and invalidation (see slot_retention.h), read from the slot's shared
// memory the way pg_get_replication_slots() does.
#include "worker/slot_retention.h"

extern "C" {
#include "access/xlog.h"
#include "replication/slot.h"
#include "storage/lwlock.h"
#include "storage/spin.h"
}

namespace bw {

namespace {

// PostgreSQL 16 records why a slot was invalidated; 15 only moves its restart_lsn to
// invalidated_at, when max_slot_wal_keep_size let the checkpointer remove the WAL it needed.
const char* invalidation_of(const ReplicationSlotPersistentData& data) {
#if PG_VERSION_NUM >= 160000
    switch (data.invalidated) {
        case RS_INVAL_NONE: return nullptr;
        case RS_INVAL_WAL_REMOVED:
            return "the WAL it still needed was removed (max_slot_wal_keep_size)";
        case RS_INVAL_HORIZON: return "catalog rows it still needed were removed";
        case RS_INVAL_WAL_LEVEL: return "wal_level became lower than logical";
        default: return "PostgreSQL invalidated it";
    }
#else
    if (XLogRecPtrIsInvalid(data.restart_lsn) && !XLogRecPtrIsInvalid(data.invalidated_at))
        return "the WAL it still needed was removed (max_slot_wal_keep_size)";
    return nullptr;
#endif
}

const char* wal_status_name(WALAvailability availability, bool active) {
    switch (availability) {
        case WALAVAIL_INVALID_LSN: return nullptr;
        case WALAVAIL_RESERVED: return "reserved";
        case WALAVAIL_EXTENDED: return "extended";
        case WALAVAIL_UNRESERVED: return "unreserved";
        // A process still holding the slot may have moved on past the removed file: only a
        // slot nobody holds is certainly lost (the checkpointer terminates the holder first).
        case WALAVAIL_REMOVED: return active ? "unreserved" : "lost";
    }
    return nullptr;
}

}  // namespace

SlotRetention slot_retention(const char* slot_name, XLogRecPtr current) {
    SlotRetention retention;
    ReplicationSlotPersistentData data = {};
    pid_t active_pid = 0;
    LWLockAcquire(ReplicationSlotControlLock, LW_SHARED);
    ReplicationSlot* slot = SearchNamedReplicationSlot(slot_name, false);
    if (slot != nullptr) {
        SpinLockAcquire(&slot->mutex);
        data = slot->data;
        active_pid = slot->active_pid;
        SpinLockRelease(&slot->mutex);
        retention.exists = true;
    }
    LWLockRelease(ReplicationSlotControlLock);
    if (!retention.exists) return retention;

    retention.invalidation = invalidation_of(data);
    if (retention.invalidation != nullptr) {
        retention.wal_status = "lost";
        return retention;
    }
    retention.wal_status = wal_status_name(GetWALAvailability(data.restart_lsn), active_pid != 0);
    if (!XLogRecPtrIsInvalid(data.restart_lsn) && current >= data.restart_lsn)
        retention.retained_bytes = static_cast<int64>(current - data.restart_lsn);
    return retention;
}

}  // namespace bw
