/*
 * Removing repeated keys from a list, as the commit path does twice per statement: the watch()
 * trigger for a statement's rows (an UPDATE names each row's key twice, a child table names its parent
 * once per child row) and the hand-over at commit for the transaction. Both run in the application's
 * commit, so this allocates at most one table of 32-bit indexes and never a node per key (a
 * std::unordered_set allocated one per key: about 500 instructions a key, measured with callgrind).
 */
#pragma once

#include <string_view>
#include <vector>

namespace cachepusher::distinct_keys {

/* Keeps the first occurrence of each key, in the order they came; the views stay valid as they were. */
void keepFirstOccurrences(std::vector<std::string_view> &keys);

} // namespace cachepusher::distinct_keys
