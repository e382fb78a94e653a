// Deliver phase, at-least-once: a PostgreSQL transaction counts as delivered once Kafka has
// acknowledged each of its messages. A crash replays from the slot what was not yet confirmed,
// so consumers may see a change twice, never miss one.
#pragma once

#include "deliver/delivery.h"

namespace bw {

class AtLeastOnceDelivery final : public Delivery {
public:
    explicit AtLeastOnceDelivery(AckTracker& acks) : acks_(acks) {}

    void set_catching_up(bool) override {}
    std::optional<TxnId> begin_transaction(uint64_t commit_lsn) override {
        return acks_.begin_transaction(commit_lsn);
    }
    void end_transaction(TxnId txn) override { acks_.end_transaction(txn); }
    void between_passes(uint64_t) override {}
    // Delivery reports are all there is to wait for; the caller serves them.
    void finish(const Waiter&) override {}
    uint64_t confirmable_lsn(uint64_t decoded_to) const override;

private:
    AckTracker& acks_;
};

}  // namespace bw
