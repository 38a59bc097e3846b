/*
 * How a source's documents are stored in Redis (its value_type): the command that writes one, the
 * command verify() reads it back with, and when what it read equals the document. Pure C++
 * (test/unit); docs/design.md section 7.
 *   string: the JSON text, SET key document [PX ttl].
 *   hash:   the members of a JSON object as fields (json_fields.hpp), the key replaced whole by one
 *           script (DEL, HSET, PEXPIRE): no reader sees a half-written hash or one merged with its
 *           old fields. An empty object leaves no key (Redis has no empty hash).
 *   json:   the document as the server's JSON type (RedisJSON, Valkey JSON), JSON.SET key $ document
 *           in one script that also sets or clears the TTL; a value of another type under the key
 *           (written before the source's type changed) is replaced, and only then: a server without
 *           the module refuses the script and the old value stays.
 */
#pragma once

#include "json_fields.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cachepusher::value_type {

enum class ValueType { String, Hash, Json };

std::optional<ValueType> parse(std::string_view name);
const char *name(ValueType type);

/* How long a document lives after a write: its member field (seconds), else ttlMs (0: for ever). */
struct Expiry {
	int64_t ttlMs = 0;
	std::string field;
};

/* The longest TTL taken, in ms: 100 years (as add_source checks a source's). */
constexpr int64_t maxTtlMs = 3155760000000;

/*
 * The command that writes document (checked JSON) under redisKey, to expire as expiry says, into
 * argv. False, with why in error, when the document cannot be stored as type (a hash needs an object)
 * or names a TTL that is no positive number of seconds up to 100 years (rounded up to the ms).
 */
bool writeCommand(ValueType type, const std::string &redisKey, const std::string &document, const Expiry &expiry,
				  std::vector<std::string> &argv, std::string &error);
/* Whether a command writeCommand made gives the key a TTL. */
bool setsTtl(ValueType type, const std::vector<std::string> &argv);
/* What the write command is called in a message ("SET", "the hash script"). */
const char *writeCommandName(ValueType type);

/* The command that reads the value back (GET, HGETALL, JSON.GET). */
std::vector<std::string> readCommand(ValueType type, const std::string &redisKey);
/* What the read command is called in a message. */
const char *readCommandName(ValueType type);

/*
 * "Redis refused <command>: <error>" for a key of a source of type, and for json what an unknown
 * command means to the user: a server without a JSON module.
 */
std::string refusal(ValueType type, std::string_view command, std::string_view error);

/*
 * A hash as read back (HGETALL's name, value pairs) holds exactly what hashWrite, a command
 * writeCommand made for a hash, leaves: the fields it was given, without splitting the document again.
 */
bool sameHash(const std::vector<std::string> &hashWrite, const json_fields::Fields &inRedis);

} // namespace cachepusher::value_type
