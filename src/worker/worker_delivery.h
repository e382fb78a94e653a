// The worker's delivery mode (bottledwater.delivery): builds the Delivery the sink and the slot
// confirmer go through, and, under exactly_once, readies it before anything is produced —
// init_transactions, then the stored LSN from the offsets topic.
#pragma once

#include <string>

#include "deliver/delivery.h"
#include "produce/kafka_sink.h"
#include "worker/worker_state.h"

namespace bw {

// The producer's transactional.id under exactly_once, "" under at_least_once.
std::string worker_transactional_id(const char* dbname, const char* slot_name);

// Blocks (answering SIGTERM, bw_stop and postmaster death) until the delivery is ready; throws
// KafkaError when Kafka does not answer in time. The result lives as long as the process.
Delivery* start_delivery(KafkaSink& kafka, WorkerState* state, const char* dbname,
                         const char* slot_name);

// Waits that a stop request ends at once (what is not committed is replayed from the slot).
Waiter streaming_waiter(WorkerState* state);
// Waits of a clean stop: bounded by `timeout_ms`, ended only by postmaster death.
Waiter shutdown_waiter(long timeout_ms);

}  // namespace bw
