#include "pending_keys.hpp"

#include <algorithm>

#include "cpp_only.hpp" /* last: this module is PostgreSQL-free */

namespace cachepusher {

/* std::deque's move keeps its elements where they are, so members_' pointers stay valid. */
PendingKeys::PendingKeys(PendingKeys &&other)
	: queue_(std::move(other.queue_)), members_(std::move(other.members_)), live_(other.live_), total_(other.total_)
{
	other.queue_.clear();
	other.members_.clear();
	other.live_ = 0;
}

PendingKeys &PendingKeys::operator=(PendingKeys &&other)
{
	if (this != &other) {
		counted(-static_cast<long>(live_));
		queue_ = std::move(other.queue_);
		members_ = std::move(other.members_);
		live_ = other.live_;
		total_ = other.total_;
		other.queue_.clear();
		other.members_.clear();
		other.live_ = 0;
	}
	return *this;
}

bool PendingKeys::add(std::string_view key, Timestamp now)
{
	if (members_.count(key))
		return false;
	queue_.push_back(Entry{std::string(key), now, true});
	members_.emplace(queue_.back().key, &queue_.back());
	live_++;
	counted(1);
	return true;
}

size_t PendingKeys::requeue(const std::vector<std::string> &keys, Timestamp since)
{
	size_t added = 0;
	/* Keep the queue ordered by since, so the front is always the oldest. */
	if (live_ > 0)
		since = std::min(since, oldestSince());
	for (auto key = keys.rbegin(); key != keys.rend(); ++key) {
		auto found = members_.find(*key);
		if (found != members_.end()) {
			found->second->live = false; /* its string stays in place until the entry is popped */
			members_.erase(found);
		} else {
			added++;
			live_++;
		}
		queue_.push_front(Entry{*key, since, true});
		members_.emplace(queue_.front().key, &queue_.front());
	}
	counted(static_cast<long>(added));
	return added;
}

std::vector<std::string> PendingKeys::take(size_t n)
{
	std::vector<std::string> keys;
	keys.reserve(std::min(n, live_));
	while (!queue_.empty() && keys.size() < n) {
		Entry &front = queue_.front();
		if (front.live) {
			members_.erase(front.key);
			keys.push_back(std::move(front.key));
			live_--;
		}
		queue_.pop_front();
	}
	dropDeadFront();
	counted(-static_cast<long>(keys.size()));
	return keys;
}

void PendingKeys::dropDeadFront()
{
	while (!queue_.empty() && !queue_.front().live)
		queue_.pop_front();
}

void PendingKeys::clear()
{
	members_.clear();
	queue_.clear();
	queue_.shrink_to_fit();
	counted(-static_cast<long>(live_));
	live_ = 0;
}

} // namespace cachepusher
