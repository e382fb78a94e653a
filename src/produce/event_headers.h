// Produce phase: the Kafka record headers every message carries, whatever its envelope: what
// happened (bw.op), in which transaction and where in it (bw.lsn, bw.xid, bw.commit_time,
// bw.txn_index), to which table at which schema version; with the transaction topic on, an
// event's place as its transaction block says it (bw.txn_id, bw.total_order,
// bw.data_collection_order). Built without allocating per message.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "encode/encoded_change.h"
#include "produce/kafka_sink.h"

namespace bw {

class EventHeaders {
public:
    EventHeaders();

    // Each transaction's messages are numbered from 0 again.
    void begin_transaction(const TransactionInfo& txn);
    // The headers of the transaction's next message; valid until the next call. bw.op is
    // insert, update or delete, snapshot for a row of the initial snapshot.
    const MessageHeaders& next(const char* op, std::string_view table, uint32_t schema_version,
                               const EventOrder& order = EventOrder());
    // An outbox message's: bw.op is message, and there is no table.
    const MessageHeaders& next_outbox_message(const EventOrder& order = EventOrder());
    // A BEGIN or END record of the transaction topic: bw.op is begin or end, and it is no
    // message of the transaction's own, so it is not numbered.
    const MessageHeaders& transaction_record(const char* op);

private:
    void number_next(const char* op);
    void add_order(const EventOrder& order);

    std::string lsn_;
    std::string xid_;
    std::string commit_time_;
    uint32_t xid_number_ = 0;
    uint64_t next_index_ = 0;
    char txn_id_[40];
    char total_order_[24];
    char collection_order_[24];
    char index_[24];
    char schema_version_[12];
    MessageHeaders headers_;
};

}  // namespace bw
