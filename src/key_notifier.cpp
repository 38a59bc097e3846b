#include "key_notifier.hpp"

#include "notification_payload.hpp"
#include "pg_boundary.hpp"

extern "C" {
#include "commands/async.h"
}

namespace cachepusher::key_notifier {
namespace {

namespace payload = notification_payload;

/*
 * Longest NOTIFY payload PostgreSQL accepts: async.c refuses one whose length is not below
 * NOTIFY_PAYLOAD_MAX_LENGTH (BLCKSZ - NAMEDATALEN - 128 = 8000), which counts the terminating NUL.
 * A payload of 8000 bytes would fail the statement that fired the trigger.
 */
constexpr size_t maxNotifyPayload = BLCKSZ - NAMEDATALEN - 128 - 1;

} // namespace

void notifyKeys(const std::string &source, const std::vector<std::string_view> &keys)
{
	std::vector<std::string> payloads;
	bool allFit = payload::packKeys(source, keys, maxNotifyPayload, payloads);
	/* NOTIFY drops a payload already sent in the transaction: a key sent alone twice goes once. */
	for (const std::string &message : payloads)
		pg::call([&] { Async_Notify(payload::keysChannel, message.c_str()); });
	if (!allFit)
		notifyResync(source);
}

void notifyResync(const std::string &source)
{
	std::string message = "resync\n" + source;
	pg::call([&] { Async_Notify(payload::controlChannel, message.c_str()); });
}

} // namespace cachepusher::key_notifier
