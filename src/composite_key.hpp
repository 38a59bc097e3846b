/*
 * Keys of more than one column (docs/design.md, "Composite keys"). Inside the worker a key stays one
 * string, so the pending set, the commit queue, payloads and failing keys do not change: a key of N > 1
 * components is each component with '\', ':', '{' and '}' escaped by a '\', joined by ':'. A key of
 * one column is the component as it is (as before composite keys existed). Decoding is unambiguous,
 * so two different keys never share a Redis key.
 *
 * The Redis key is the source's prefix, ':' and the key, laid out by the source's key template: the
 * components in order, joined by ':', any one of them in braces to make it the Redis Cluster hash tag
 * ("{$1}:$2": every key with the same first component in one slot). Only that grammar, so a Redis key
 * under the prefix still maps back to its key (verify()'s orphans, a warmup's stale keys).
 */
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cachepusher::composite_key {

/* The most columns a key may have (a document function's arguments are at most 100 anyway). */
constexpr size_t maxColumns = 32;

/* The key of these components (one: the component itself). */
std::string encode(const std::vector<std::string_view> &components);

/* The components of a key of columns components; false when it is not one (a ':' too many or few). */
bool decode(std::string_view key, size_t columns, std::vector<std::string> &components);

/* Whether key is a key of columns components (any text is a key of one). */
bool isKey(std::string_view key, size_t columns);

/* How a source lays its keys out in Redis after "prefix:". */
class KeyTemplate {
public:
	KeyTemplate() = default;

	/*
	 * "$1:$2", "{$1}:$2": every component from $1 to $columns once and in order, joined by ':', at
	 * most one in braces. Empty text is the default: none in braces. nullopt and error when refused.
	 */
	static std::optional<KeyTemplate> parse(std::string_view text, size_t columns, std::string &error);

	/* The part of the Redis key after "prefix:" (key is a key of this template's columns). */
	std::string redisSuffix(std::string_view key) const;
	/* The key a Redis key's suffix names; nullopt when no key of this template is laid out so. */
	std::optional<std::string> keyOf(std::string_view suffix) const;

	size_t columns() const { return columns_; }
	/* The component in braces, from 0; -1 for none. */
	int hashTag() const { return hashTag_; }
	/* As given to parse, normalized: "" for the default. */
	std::string text() const;

	bool operator==(const KeyTemplate &o) const { return columns_ == o.columns_ && hashTag_ == o.hashTag_; }

private:
	size_t columns_ = 1;
	int hashTag_ = -1;
};

} // namespace cachepusher::composite_key
