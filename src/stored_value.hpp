/*
 * What verify() makes of the value Redis holds for a key: the same as the document, or which
 * difference ("missing", "stale", "orphan", "error"), for every value type (value_type.hpp).
 */
#pragma once

#include "document_fetcher.hpp"
#include "source.hpp"

#include <string>

struct redisReply;

namespace cachepusher::stored_value {

/*
 * A document against what Redis holds for it (GET's, HGETALL's or JSON.GET's reply): the problem,
 * or nullptr. An error reply is a key of another type (WRONGTYPE: written before the source's type
 * changed). "error" with why: the document cannot be stored as the source's type (the worker
 * counts it), or Redis refused the read.
 */
const char *compare(const SourceDefinition &def, const Document &doc, const redisReply *reply, std::string &why);

} // namespace cachepusher::stored_value
