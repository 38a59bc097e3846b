#include "log_text.hpp"

#include "pg_boundary.hpp"

#include <cstdio>

extern "C" {
#include "mb/pg_wchar.h"
}

namespace cachepusher {

size_t clippedLength(std::string_view text, size_t maxBytes)
{
	if (text.size() <= maxBytes)
		return text.size();
	return pg::call([&] { return static_cast<size_t>(pg_mbcliplen(text.data(), text.size(), maxBytes)); });
}

void copyClipped(std::string_view text, char *out, size_t size)
{
	size_t length = clippedLength(text, size - 1);
	memcpy(out, text.data(), length);
	out[length] = '\0';
}

std::string logExcerpt(std::string_view text, size_t maxBytes)
{
	size_t keep = clippedLength(text, maxBytes);
	std::string out;
	out.reserve(keep + 8);
	/* Bytes below 0x80 are never part of a multibyte character in a server encoding. */
	for (unsigned char c : text.substr(0, keep)) {
		if (c == '\n')
			out.append("\\n");
		else if (c == '\t')
			out.append("\\t");
		else if (c == '\\')
			out.append("\\\\");
		else if (c < 0x20 || c == 0x7f) {
			char hex[8];
			snprintf(hex, sizeof hex, "\\x%02x", c);
			out.append(hex);
		} else
			out.push_back(static_cast<char>(c));
	}
	if (keep < text.size())
		out.append("...");
	return out;
}

} // namespace cachepusher
