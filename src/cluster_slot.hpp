/*
 * Redis Cluster's key distribution: a key belongs to one of 16384 hash slots, CRC16 (XMODEM) of the
 * key modulo 16384; when the key holds a non-empty {hash tag}, only the tag is hashed. And the two
 * redirections a node answers with: MOVED (the slot lives elsewhere now) and ASK (this key is being
 * migrated: ask that node once, after ASKING).
 */
#pragma once

#include <string>
#include <string_view>

namespace cachepusher::cluster_slot {

constexpr int slotCount = 16384;

int keySlot(std::string_view key);

struct Redirect {
	enum class Kind { None, Moved, Ask } kind = Kind::None;
	int slot = -1;
	std::string host;
	int port = 0;
};
/* Parses an error reply's text; kind None when it is no redirection. */
Redirect parseRedirect(std::string_view error);

} // namespace cachepusher::cluster_slot
