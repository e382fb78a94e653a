// Deliver phase, exactly-once: the records of the offsets topic. One compacted key per slot,
// whose latest value is the highest commit LSN that Kafka holds of that slot's stream.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace bw {

// "bottledwater:<system identifier>:<slot>:<database>": the PostgreSQL cluster's identifier keeps
// two clusters' same-named slots apart on one Kafka cluster, slot names hold no ':', and the
// database makes it readable. Also the producer's transactional.id.
std::string offsets_key(uint64_t system_identifier, std::string_view database,
                        std::string_view slot);

// PostgreSQL's LSN text, "16/B374D848".
std::string format_lsn(uint64_t lsn);
// nullopt for anything that is not an LSN in that form.
std::optional<uint64_t> parse_lsn(std::string_view text);

}  // namespace bw
