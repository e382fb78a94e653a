// Keeps the decoder's caches keyed by relation OID bounded under table churn: once a cache has
// doubled since its last sweep, the entries of relations that no longer exist in the catalog
// (as of the change being decoded) go. Amortised O(1) per lookup, since the threshold doubles
// with what survives; only an invalidated entry can be a dropped relation's (DROP invalidates).
#pragma once

extern "C" {
#include "postgres.h"
#include "utils/syscache.h"
}

#include <algorithm>
#include <cstddef>

namespace bw {

class RelationSweep {
public:
    // Sweeps `entries` (a map from relation OID) if due: entries for which `valid(entry)` is
    // false and whose relation is gone are handed to `forget(relid, entry)`, then erased.
    // Needs catalog access.
    template <typename Map, typename Valid, typename Forget>
    void sweep(Map& entries, Valid valid, Forget forget) {
        if (entries.size() < next_at_) return;
        for (auto it = entries.begin(); it != entries.end();) {
            if (valid(it->second) || SearchSysCacheExists1(RELOID, ObjectIdGetDatum(it->first))) {
                ++it;
                continue;
            }
            forget(it->first, it->second);
            it = entries.erase(it);
        }
        next_at_ = std::max(kFirstAt, 2 * entries.size());
    }

private:
    // A database's tables fit in this many entries without any sweep.
    static constexpr size_t kFirstAt = 256;
    size_t next_at_ = kFirstAt;
};

}  // namespace bw
