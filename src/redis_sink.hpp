/* What the worker writes to Redis: documents as one pipeline of SET / DEL, and SCAN for stale keys. */
#pragma once

#include "document_fetcher.hpp"
#include "redis_connection.hpp"
#include "source.hpp"

#include <string>
#include <vector>

namespace cachepusher::redis_sink {

/*
 * SET prefix:key document, or DEL prefix:key when the document is gone, for every document in one
 * pipeline; checks every reply. A refused command is logged with source and key and counted; the rest
 * of the batch is still written. Throws RedisError when the connection fails (nothing is counted then).
 */
void writeDocuments(RedisConnection &redis, Source &source, const std::vector<Document> &documents);

/* One SCAN step over prefix:*; returns the next cursor ("0" when done) and appends keys without prefix. */
std::string scanPrefix(RedisConnection &redis, const std::string &prefix, const std::string &cursor, int count,
					   std::vector<std::string> &keys);

} // namespace cachepusher::redis_sink
