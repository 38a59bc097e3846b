#include "pending_keys.hpp"

namespace cachepusher {

bool PendingKeys::add(std::string_view key, TimestampTz now)
{
	if (members_.count(key))
		return false;
	queue_.push_back(Entry{std::string(key), now});
	members_.insert(queue_.back().key);
	return true;
}

std::vector<std::string> PendingKeys::take(size_t n)
{
	std::vector<std::string> keys;
	keys.reserve(std::min(n, queue_.size()));
	while (!queue_.empty() && keys.size() < n) {
		members_.erase(queue_.front().key);
		keys.push_back(std::move(queue_.front().key));
		queue_.pop_front();
	}
	return keys;
}

void PendingKeys::clear()
{
	members_.clear();
	queue_.clear();
	queue_.shrink_to_fit();
}

} // namespace cachepusher
