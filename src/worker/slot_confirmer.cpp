// Confirms acknowledged positions on the worker's slot (see slot_confirmer.h).
#include "worker/slot_confirmer.h"

extern "C" {
#include "replication/logical.h"
#include "replication/slot.h"
#include "utils/timestamp.h"
}

namespace bw {

namespace {

// How often the slot's confirmed position is written to disk between checkpoints.
constexpr long kSaveSlotIntervalMs = 1000;

}  // namespace

void SlotConfirmer::confirm(XLogRecPtr decoded_to) {
    const XLogRecPtr lsn = delivery_.confirmable_lsn(decoded_to);
    if (lsn > confirmed_) {
        LogicalConfirmReceivedLocation(lsn);
        // LogicalConfirmReceivedLocation keeps confirmed_flush in memory only.
        ReplicationSlotMarkDirty();
        confirmed_ = lsn;
        dirty_ = true;
    }
    const TimestampTz now = GetCurrentTimestamp();
    if (dirty_ && TimestampDifferenceExceeds(saved_at_, now, kSaveSlotIntervalMs)) save(now);
}

void SlotConfirmer::save(TimestampTz now) {
    ReplicationSlotSave();
    saved_at_ = now;
    dirty_ = false;
}

}  // namespace bw
