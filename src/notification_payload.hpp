/*
 * Payloads on the extension's own channels.
 *   cachepusher:          "<source>\n<key>\n<key>..."; a backslash escapes "\\" and "\n" inside a key.
 *   cachepusher_control:  "reload" (sources changed), "resync" or "resync\n<source>".
 */
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace cachepusher::notification_payload {

inline constexpr const char *keysChannel = "cachepusher";
inline constexpr const char *controlChannel = "cachepusher_control";

struct Keys {
	std::string_view source;
	std::vector<std::string> keys;
};

/* Splits a keys payload; false when it names no source. */
bool parseKeys(std::string_view payload, Keys &out);
/* The escaped form of one key, as the watch() trigger writes it. */
std::string escapeKey(std::string_view key);

/*
 * Packs keys of source into as few keys payloads as fit in maxBytes each. Returns false when some key
 * alone does not fit (the caller asks for a resync of the source instead); the others are packed.
 */
bool packKeys(std::string_view source, const std::vector<std::string_view> &keys, size_t maxBytes,
			  std::vector<std::string> &payloads);
bool packKeys(std::string_view source, const std::vector<std::string> &keys, size_t maxBytes,
			  std::vector<std::string> &payloads);

} // namespace cachepusher::notification_payload
