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

/*
 * The keys waiting in every pending set attached to it (what max_pending bounds): the one count of
 * them, kept by the sets themselves as keys come and go, so it is never rebuilt or adjusted by hand.
 */
class PendingTotal {
public:
	PendingTotal() = default;
	PendingTotal(const PendingTotal &) = delete;
	PendingTotal &operator=(const PendingTotal &) = delete;
	size_t value() const { return n_; }

private:
	friend class PendingKeys;
	size_t n_ = 0;
};

class PendingKeys {
public:
	/* total: counts this set's keys too (it must outlive the set); none for a set of its own. */
	explicit PendingKeys(PendingTotal *total = nullptr) : total_(total) {}
	~PendingKeys() { counted(-static_cast<long>(live_)); }
	PendingKeys(PendingKeys &&other);
	PendingKeys &operator=(PendingKeys &&other);
	PendingKeys(const PendingKeys &) = delete;
	PendingKeys &operator=(const PendingKeys &) = delete;

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
	/*
	 * When the next batch of up to batchSize keys is due: at once when that many wait, else once the
	 * oldest has waited delayMs for more to join it (a batch costs the worker far more than a key).
	 * 0 when none is waiting.
	 */
	Timestamp batchDueAt(size_t batchSize, long delayMs) const
	{
		if (live_ == 0)
			return 0;
		return live_ >= batchSize ? oldestSince() : plusMs(oldestSince(), delayMs);
	}
	void clear();

private:
	struct Entry {
		std::string key;
		Timestamp since;
		bool live; /* false: the key moved to the front; skipped when reached */
	};
	void dropDeadFront();
	/* live_ changed by delta: the total follows. */
	void counted(long delta)
	{
		if (total_ != nullptr)
			total_->n_ += delta;
	}

	/* std::deque never moves its elements on push/pop at either end, so the pointers stay valid. */
	std::deque<Entry> queue_;
	std::unordered_map<std::string_view, Entry *> members_;
	size_t live_ = 0;
	PendingTotal *total_;
};

} // namespace cachepusher
