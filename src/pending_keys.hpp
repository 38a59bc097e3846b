/*
 * Keys of one source waiting to be pushed: deduplicated (a key notified twice is fetched once) and
 * first-in first-out, so no key waits behind an endless stream of newer ones. Each key remembers
 * since when it waits: that is the source's lag, and what wait_for_sync() compares against.
 */
#pragma once

#include "timestamp.hpp"

#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace cachepusher {

class PendingKeys {
public:
	/* Adds key at the back, waiting since now, unless it is already waiting; returns whether it was new. */
	bool add(std::string_view key, Timestamp now);
	/*
	 * Puts keys that were taken but could not be pushed back at the front, waiting since `since` (when
	 * the oldest of them arrived). A key notified again meanwhile moves to the front with them, so no
	 * key ever looks younger than the oldest change it carries. Returns how many were not waiting.
	 */
	size_t requeue(const std::vector<std::string> &keys, Timestamp since);
	/* Removes and returns up to n of the oldest keys. */
	std::vector<std::string> take(size_t n);
	bool contains(std::string_view key) const { return members_.count(key) > 0; }
	size_t size() const { return live_; }
	bool empty() const { return live_ == 0; }
	/* When the oldest waiting key arrived; 0 when none is waiting. */
	Timestamp oldestSince() const { return live_ == 0 ? 0 : queue_.front().since; }
	void clear();

private:
	struct Entry {
		std::string key;
		Timestamp since;
		bool live; /* false: the key moved to the front; skipped when reached */
	};
	void dropDeadFront();

	/* std::deque never moves its elements on push/pop at either end, so the pointers stay valid. */
	std::deque<Entry> queue_;
	std::unordered_map<std::string_view, Entry *> members_;
	size_t live_ = 0;
};

} // namespace cachepusher
