/*
 * Text from users (keys, payloads, error messages that quote them) made fit for one log line and
 * for status.last_error: cut to a byte budget on a character boundary, control bytes escaped.
 */
#pragma once

#include <string>
#include <string_view>

namespace cachepusher {

/* How many leading bytes of text fit in maxBytes without splitting a character. */
size_t clippedLength(std::string_view text, size_t maxBytes);
/* text into out (a buffer of size bytes), cut on a character boundary, and terminated. */
void copyClipped(std::string_view text, char *out, size_t size);

/* At most maxBytes bytes of text (in the database encoding), then "..."; \n, \t, \\ and \xNN escaped. */
std::string logExcerpt(std::string_view text, size_t maxBytes = 120);

} // namespace cachepusher
