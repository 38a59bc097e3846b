/*
 * Keys of one source waiting to be pushed: deduplicated (a key notified twice is fetched once) and
 * first-in first-out, so no key waits behind an endless stream of newer ones.
 */
#pragma once

#include <deque>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

extern "C" {
#include "postgres.h"
#include "datatype/timestamp.h"
}

namespace cachepusher {

class PendingKeys {
public:
	/* Adds key unless it is already waiting; returns whether it was new. */
	bool add(std::string_view key, TimestampTz now);
	/* Removes and returns up to n of the oldest keys. */
	std::vector<std::string> take(size_t n);
	size_t size() const { return queue_.size(); }
	bool empty() const { return queue_.empty(); }
	/* When the oldest waiting key arrived; 0 when none is waiting. */
	TimestampTz oldestSince() const { return queue_.empty() ? 0 : queue_.front().since; }
	void clear();

private:
	struct Entry {
		std::string key;
		TimestampTz since;
	};
	/* std::deque never moves its elements on push_back/pop_front, so the views stay valid. */
	std::deque<Entry> queue_;
	std::unordered_set<std::string_view> members_;
};

} // namespace cachepusher
