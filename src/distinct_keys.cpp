#include "distinct_keys.hpp"

#include <cstdint>
#include <functional>
#include <limits>

#include "cpp_only.hpp" /* last: this module is PostgreSQL-free */

namespace cachepusher::distinct_keys {
namespace {

/* Up to this many keys a comparison with each kept key is cheaper than hashing (a 1-row UPDATE: 2). */
constexpr size_t scanLimit = 16;

size_t keepFirstByScanning(std::vector<std::string_view> &keys)
{
	size_t kept = 0;
	for (size_t i = 0; i < keys.size(); i++) {
		bool seen = false;
		for (size_t j = 0; j < kept && !seen; j++)
			seen = keys[j] == keys[i];
		if (!seen)
			keys[kept++] = keys[i];
	}
	return kept;
}

/* Open addressing over the kept keys' positions (+1; 0 is an empty slot), at most half full. */
size_t keepFirstByHashing(std::vector<std::string_view> &keys)
{
	size_t capacity = 1;
	while (capacity < 2 * keys.size())
		capacity <<= 1;
	std::vector<uint32_t> slots(capacity, 0);
	std::hash<std::string_view> hash;
	size_t kept = 0;
	for (size_t i = 0; i < keys.size(); i++) {
		size_t slot = hash(keys[i]) & (capacity - 1);
		bool seen = false;
		while (slots[slot] != 0 && !seen) {
			seen = keys[slots[slot] - 1] == keys[i];
			if (!seen)
				slot = (slot + 1) & (capacity - 1);
		}
		if (seen)
			continue;
		/* kept <= i: the keys before kept are final, so a slot never points at a key moved later. */
		keys[kept] = keys[i];
		slots[slot] = static_cast<uint32_t>(++kept);
	}
	return kept;
}

} // namespace

void keepFirstOccurrences(std::vector<std::string_view> &keys)
{
	if (keys.size() < 2)
		return;
	/* Repeats are harmless (the worker reads each key's document once either way): past 32-bit
	 * positions, which no transaction's memory would hold, they are left in. */
	if (keys.size() >= std::numeric_limits<uint32_t>::max() / 2)
		return;
	keys.resize(keys.size() <= scanLimit ? keepFirstByScanning(keys) : keepFirstByHashing(keys));
}

} // namespace cachepusher::distinct_keys
