// Deliver phase, at-least-once (see at_least_once.h).
#include "deliver/at_least_once.h"

#include <algorithm>

namespace bw {

// Nothing pending: everything decoded so far is in Kafka, including transactions that produced
// nothing, so the slot may move up to the reader.
uint64_t AtLeastOnceDelivery::confirmable_lsn(uint64_t decoded_to) const {
    const uint64_t acknowledged = acks_.confirmable_lsn();
    if (acks_.pending_transactions() == 0 && acks_.in_flight() == 0)
        return std::max(acknowledged, decoded_to);
    return acknowledged;
}

}  // namespace bw
