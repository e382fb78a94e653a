// Acknowledge: confirms on the worker's slot the position up to which Kafka has acknowledged
// everything, and writes it to disk at most once a second between checkpoints.
#pragma once

extern "C" {
#include "postgres.h"
#include "access/xlogdefs.h"
#include "datatype/timestamp.h"
}

#include "deliver/delivery.h"

namespace bw {

class SlotConfirmer {
public:
    SlotConfirmer(Delivery& delivery, XLogRecPtr confirmed)
        : delivery_(delivery), confirmed_(confirmed) {}

    // `decoded_to`: every commit before it has passed through the sink (InvalidXLogRecPtr: only
    // what is acknowledged counts).
    void confirm(XLogRecPtr decoded_to);
    // Writes the confirmed position to disk now.
    void save(TimestampTz now);

    XLogRecPtr confirmed() const { return confirmed_; }

private:
    Delivery& delivery_;
    XLogRecPtr confirmed_;
    bool dirty_ = false;
    TimestampTz saved_at_ = 0;
};

}  // namespace bw
