// Deliver phase: how the changes of PostgreSQL transactions become Kafka's, and so which LSN the
// slot may confirm. Two modes behind one interface: at-least-once (delivery reports) and
// exactly-once (Kafka transactions with the highest commit LSN recorded in each).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "acknowledge/ack_tracker.h"

namespace bw {

// Called after each round of a blocking Kafka call that has not finished yet, with what it
// waits for. It may throw (to give up) or end the process (a stop request); it returns to go on.
using Waiter = std::function<void(const std::string& waiting_for)>;

class Delivery {
public:
    virtual ~Delivery() = default;

    // Whether the worker is far behind the WAL's end (told before each pass and before
    // between_passes): what it produces then reaches consumers late anyway, and throughput
    // matters more than latency.
    virtual void set_catching_up(bool catching_up) = 0;
    // Before the first change of a PostgreSQL transaction, in commit order (end LSN of its
    // commit). The id to produce its changes under, or nullopt: Kafka holds it already, and
    // its changes are left out.
    virtual std::optional<TxnId> begin_transaction(uint64_t commit_lsn) = 0;
    // Its last change has been produced.
    virtual void end_transaction(TxnId txn) = 0;
    // Between decoding passes; every commit before `decoded_to` has been through the sink.
    virtual void between_passes(uint64_t decoded_to) = 0;
    // Makes everything produced so far durable (commits what is open); before the slot is
    // persisted and before a clean stop.
    virtual void finish(const Waiter& wait) = 0;
    // The LSN the slot may be confirmed up to; `decoded_to` as in between_passes, or 0 in the
    // middle of a pass.
    virtual uint64_t confirmable_lsn(uint64_t decoded_to) const = 0;
};

}  // namespace bw
