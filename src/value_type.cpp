#include "value_type.hpp"

#include <charconv>
#include <cmath>
#include <map>

#include "cpp_only.hpp"

namespace cachepusher::value_type {
namespace {

/*
 * KEYS[1] the key; ARGV[1] the TTL in ms ("0": none), then name, value, ... One script runs alone in
 * Redis, so the old hash and the new never mix. HSET takes the fields 500 at a time: unpack() of more
 * arguments than Lua's stack holds would fail.
 */
const char *const hashScript = R"LUA(redis.call('DEL', KEYS[1])
for i = 2, #ARGV, 1000 do
  redis.call('HSET', KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
if ARGV[1] ~= '0' and #ARGV > 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return (#ARGV - 1) / 2)LUA";

/*
 * KEYS[1] the key; ARGV[1] the TTL in ms ("0": none), ARGV[2] the document. JSON.SET of the root keeps
 * a TTL the key had on some servers (RedisJSON replaces the value in place), so it is set or cleared
 * here. A key of another type is deleted on WRONGTYPE, and the document set again. Any other refusal
 * is the script's reply: without a JSON module (an unknown command) the old value stays, as the whole
 * source fails alike and a cold cache would help no one; a document the module refuses (deeper than
 * its nesting limit, say) deletes the key, as a document no hash can hold does, so no reader is served
 * a value the database no longer holds. Refusals of the server as a whole (OOM, READONLY ...) do not
 * start with ERR and delete nothing.
 */
const char *const jsonScript = R"LUA(local r = redis.pcall('JSON.SET', KEYS[1], '$', ARGV[2])
if type(r) == 'table' and r.err and string.sub(r.err, 1, 9) == 'WRONGTYPE' then
  redis.call('DEL', KEYS[1])
  r = redis.pcall('JSON.SET', KEYS[1], '$', ARGV[2])
end
if type(r) == 'table' and r.err then
  local e = string.lower(r.err)
  if string.sub(e, 1, 4) == 'err ' and not (string.find(e, 'unknown', 1, true) and string.find(e, 'command', 1, true)) then
    redis.call('DEL', KEYS[1])
  end
  return r
end
if ARGV[1] ~= '0' then redis.call('PEXPIRE', KEYS[1], ARGV[1]) else redis.call('PERSIST', KEYS[1]) end
return 1)LUA";

/*
 * The TTL the document names in its member field: ms; expiry.ttlMs when it names none (no such member,
 * or null); -1 with error when the member is no number of seconds in range. A string holding a number
 * counts as that number (split() gives a string's characters, and a text column's value is one).
 */
int64_t documentTtlMs(const json_fields::Fields &fields, const Expiry &expiry, std::string &error)
{
	const std::string *named = nullptr;
	for (const auto &[field, value] : fields)
		if (field == expiry.field)
			named = &value; /* the last one, as in a hash */
	if (named == nullptr || *named == "null")
		return expiry.ttlMs;
	double seconds = 0;
	auto [end, ec] = std::from_chars(named->data(), named->data() + named->size(), seconds);
	double ms = std::ceil(seconds * 1000);
	if (ec != std::errc() || end != named->data() + named->size() || !(seconds > 0) || ms > maxTtlMs) {
		error = "the document's TTL member \"" + expiry.field +
				"\" must be a positive number of seconds, at most 100 years, or null";
		return -1;
	}
	return static_cast<int64_t>(ms);
}

} // namespace

std::optional<ValueType> parse(std::string_view text)
{
	if (text == "string")
		return ValueType::String;
	if (text == "hash")
		return ValueType::Hash;
	if (text == "json")
		return ValueType::Json;
	return std::nullopt;
}

const char *name(ValueType type)
{
	switch (type) {
	case ValueType::Hash:
		return "hash";
	case ValueType::Json:
		return "json";
	case ValueType::String:
		break;
	}
	return "string";
}

bool writeCommand(ValueType type, const std::string &redisKey, const std::string &document, const Expiry &expiry,
				  std::vector<std::string> &argv, std::string &error)
{
	argv.clear();
	json_fields::Fields fields;
	int64_t ttlMs = expiry.ttlMs;
	if (type == ValueType::Hash || !expiry.field.empty()) {
		if (!json_fields::split(document, fields, error)) {
			if (type != ValueType::Hash)
				error = "a document whose TTL is one of its members must be a JSON object";
			return false;
		}
		if (!expiry.field.empty() && (ttlMs = documentTtlMs(fields, expiry, error)) < 0)
			return false;
	}
	if (type == ValueType::String) {
		argv = {"SET", redisKey, document};
		if (ttlMs > 0) {
			argv.emplace_back("PX");
			argv.push_back(std::to_string(ttlMs));
		}
		return true;
	}
	if (type == ValueType::Json) {
		argv = {"EVAL", jsonScript, "1", redisKey, std::to_string(ttlMs > 0 ? ttlMs : 0), document};
		return true;
	}
	argv = {"EVAL", hashScript, "1", redisKey, std::to_string(ttlMs > 0 ? ttlMs : 0)};
	argv.reserve(argv.size() + 2 * fields.size());
	for (auto &[field, value] : fields) {
		argv.push_back(std::move(field));
		argv.push_back(std::move(value));
	}
	return true;
}

bool setsTtl(ValueType type, const std::vector<std::string> &argv)
{
	/*
	 * SET key value PX ms; EVAL script 1 key ttl fields... (PEXPIRE only when there are fields);
	 * EVAL script 1 key ttl document.
	 */
	switch (type) {
	case ValueType::String:
		return argv.size() == 5;
	case ValueType::Hash:
		return argv.size() > 5 && argv[4] != "0";
	case ValueType::Json:
		return argv.size() == 6 && argv[4] != "0";
	}
	return false;
}

const char *writeCommandName(ValueType type)
{
	switch (type) {
	case ValueType::Hash:
		return "the hash script (EVAL)";
	case ValueType::Json:
		return "the JSON.SET script (EVAL)";
	case ValueType::String:
		break;
	}
	return "SET";
}

std::vector<std::string> readCommand(ValueType type, const std::string &redisKey)
{
	return {readCommandName(type), redisKey};
}

const char *readCommandName(ValueType type)
{
	switch (type) {
	case ValueType::Hash:
		return "HGETALL";
	case ValueType::Json:
		return "JSON.GET";
	case ValueType::String:
		break;
	}
	return "GET";
}

std::string refusal(ValueType type, std::string_view command, std::string_view error)
{
	std::string message = "Redis refused " + std::string(command) + ": " + std::string(error);
	/*
	 * "ERR unknown command 'JSON.GET'", and from a script "Unknown Redis command called from script"
	 * (Valkey 8: "Unknown command called from script").
	 */
	bool unknownCommand =
		error.find("nknown") != std::string_view::npos && error.find("command") != std::string_view::npos;
	if (type == ValueType::Json && unknownCommand)
		message += " (the server has no JSON module: load RedisJSON or Valkey JSON into it, or give the source "
				   "another value_type with cachepusher.set_value_type)";
	return message;
}

bool sameHash(const std::vector<std::string> &hashWrite, const json_fields::Fields &inRedis)
{
	/* EVAL script 1 key ttl, then name, value, ...; a name given twice: the last is what HSET left. */
	std::map<std::string_view, std::string_view> expected;
	for (size_t i = 5; i + 1 < hashWrite.size(); i += 2)
		expected[hashWrite[i]] = hashWrite[i + 1];
	if (expected.size() != inRedis.size())
		return false;
	for (const auto &[field, value] : inRedis) {
		auto it = expected.find(field);
		if (it == expected.end() || it->second != value)
			return false;
	}
	return true;
}

} // namespace cachepusher::value_type
