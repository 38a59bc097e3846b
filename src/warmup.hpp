/*
 * Warmup: writes every document of a source without a cold window. The key query is materialized by a
 * held cursor and read in chunks, each chunk in its own transaction (the worker drains notifications
 * between chunks). Documents are overwritten in place; only afterwards does a SCAN over the prefix
 * find keys the key query did not return, and those are re-checked through the document function like
 * any notified key (deleted when it returns NULL). Nothing is deleted before its replacement is written.
 */
#pragma once

#include "redis_sink.hpp"
#include "source.hpp"

namespace cachepusher::warmup {

/*
 * Asks for a (new) warmup of source; a running one is abandoned and started over. covers: the oldest
 * change it stands in for (keys dropped for it were waiting since then); 0 means now.
 */
void request(Source &source, TimestampTz covers = 0);
/*
 * Does one step of a requested or running warmup: opens the key cursor, or reads one chunk and writes
 * its documents (left in flight in writer), or sweeps one SCAN page. Returns whether it did anything.
 * Throws RedisError when Redis failed (progress is kept and the chunk's keys stay pending); source
 * failures are logged and retried with back-off.
 */
bool step(Source &source, redis_sink::DocumentWriter &writer);
/* Closes the source's cursor, if any (the source is dropped or redefined). Call outside a transaction. */
void cancel(Source &source);

} // namespace cachepusher::warmup
