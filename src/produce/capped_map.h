// A cache whose keys come from outside the worker's control (topics bw_emit names, schema
// versions over a worker's life): at most `capacity` entries. Full, it is emptied before the next
// entry goes in, and what it held is made again on demand: bounded like an LRU, for less code and
// no bookkeeping per lookup. Pure C++.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <utility>

namespace bw {

template <typename Key, typename Value>
class CappedMap {
public:
    using Map = std::map<Key, Value, std::less<>>;

    explicit CappedMap(size_t capacity) : capacity_(capacity) {}

    // nullptr when absent; `key` may be anything std::less<> compares with Key.
    template <typename Lookup>
    Value* find(const Lookup& key) {
        const auto found = map_.find(key);
        return found == map_.end() ? nullptr : &found->second;
    }
    Value& insert(Key key, Value value) {
        if (map_.size() >= capacity_) map_.clear();
        return map_.insert_or_assign(std::move(key), std::move(value)).first->second;
    }
    // For removing entries (a range, one key).
    Map& entries() { return map_; }
    size_t size() const { return map_.size(); }
    void clear() { map_.clear(); }

private:
    size_t capacity_;
    Map map_;
};

}  // namespace bw
