#include "composite_key.hpp"

#include "cpp_only.hpp" /* last: this module is PostgreSQL-free */

namespace cachepusher::composite_key {
namespace {

bool escaped(char c)
{
	return c == '\\' || c == ':' || c == '{' || c == '}';
}

/*
 * Where each component of an encoded key of several columns starts and ends (at the unescaped ':'),
 * or false when a '\' escapes nothing it should or a brace is unescaped: no encoded key is like that.
 * With braced, component tag may be wrapped in one pair of unescaped braces (a Redis key's suffix).
 */
bool split(std::string_view text, size_t columns, int tag, std::vector<std::string_view> &parts)
{
	parts.clear();
	size_t start = 0;
	for (size_t i = 0; i <= text.size(); i++) {
		if (i < text.size() && text[i] == '\\') {
			if (i + 1 == text.size() || !escaped(text[i + 1]))
				return false;
			i++;
			continue;
		}
		if (i < text.size() && text[i] != ':') {
			/* A brace of the template: the first character of the tag component, or its last. */
			bool first = i == start, last = i + 1 == text.size() || text[i + 1] == ':';
			if ((text[i] == '{' && !(first && static_cast<int>(parts.size()) == tag)) ||
				(text[i] == '}' && !(last && static_cast<int>(parts.size()) == tag)))
				return false;
			continue;
		}
		parts.push_back(text.substr(start, i - start));
		start = i + 1;
	}
	return parts.size() == columns;
}

} // namespace

std::string encode(const std::vector<std::string_view> &components)
{
	if (components.size() == 1)
		return std::string(components[0]);
	std::string key;
	for (size_t i = 0; i < components.size(); i++) {
		if (i > 0)
			key.push_back(':');
		for (char c : components[i]) {
			if (escaped(c))
				key.push_back('\\');
			key.push_back(c);
		}
	}
	return key;
}

bool decode(std::string_view key, size_t columns, std::vector<std::string> &components)
{
	components.clear();
	if (columns == 1) {
		components.emplace_back(key);
		return true;
	}
	std::vector<std::string_view> parts;
	if (!split(key, columns, -1, parts))
		return false;
	for (std::string_view part : parts) {
		std::string &component = components.emplace_back();
		for (size_t i = 0; i < part.size(); i++)
			component.push_back(part[i] == '\\' ? part[++i] : part[i]);
	}
	return true;
}

bool isKey(std::string_view key, size_t columns)
{
	std::vector<std::string_view> parts;
	return columns == 1 || split(key, columns, -1, parts);
}

std::optional<KeyTemplate> KeyTemplate::parse(std::string_view text, size_t columns, std::string &error)
{
	KeyTemplate result;
	result.columns_ = columns;
	if (text.empty())
		return result;
	size_t start = 0;
	for (size_t n = 1; n <= columns; n++) {
		size_t end = text.find(':', start);
		std::string_view part = text.substr(start, end == std::string_view::npos ? end : end - start);
		std::string plain = "$" + std::to_string(n);
		if (part == "{" + plain + "}") {
			if (result.hashTag_ >= 0) {
				error = "a key template may put one component in braces, not two: Redis takes the first as the "
						"hash tag";
				return std::nullopt;
			}
			result.hashTag_ = static_cast<int>(n - 1);
		} else if (part != plain) {
			error = "component " + std::to_string(n) + " of the key template must be " + plain + " or {" + plain +
					"}, not \"" + std::string(part) + "\"";
			return std::nullopt;
		}
		if ((end == std::string_view::npos) != (n == columns)) {
			std::string example;
			for (size_t c = 1; c <= columns; c++)
				example += (c > 1 ? ":$" : "$") + std::to_string(c);
			error = "the key template must name each of the key's " + std::to_string(columns) +
					(columns == 1 ? " column" : " columns") + " once, in order, joined by ':' (" + example + ")";
			return std::nullopt;
		}
		start = end + 1;
	}
	return result;
}

std::string KeyTemplate::redisSuffix(std::string_view key) const
{
	if (hashTag_ < 0)
		return std::string(key);
	if (columns_ == 1)
		return "{" + std::string(key) + "}";
	std::vector<std::string_view> parts;
	if (!split(key, columns_, -1, parts))
		return std::string(key); /* not a key of ours: intake refuses those, so never written */
	std::string suffix;
	suffix.reserve(key.size() + 2);
	for (size_t i = 0; i < parts.size(); i++) {
		if (i > 0)
			suffix.push_back(':');
		bool tag = static_cast<int>(i) == hashTag_;
		if (tag)
			suffix.push_back('{');
		suffix.append(parts[i]);
		if (tag)
			suffix.push_back('}');
	}
	return suffix;
}

std::optional<std::string> KeyTemplate::keyOf(std::string_view suffix) const
{
	if (hashTag_ < 0 && columns_ == 1)
		return std::string(suffix);
	if (columns_ == 1) {
		if (suffix.size() < 2 || suffix.front() != '{' || suffix.back() != '}')
			return std::nullopt;
		return std::string(suffix.substr(1, suffix.size() - 2));
	}
	std::vector<std::string_view> parts;
	if (!split(suffix, columns_, hashTag_, parts))
		return std::nullopt;
	std::string key;
	key.reserve(suffix.size());
	for (size_t i = 0; i < parts.size(); i++) {
		std::string_view part = parts[i];
		if (static_cast<int>(i) == hashTag_) {
			if (part.size() < 2 || part.front() != '{' || part.back() != '}')
				return std::nullopt;
			part = part.substr(1, part.size() - 2);
		}
		if (i > 0)
			key.push_back(':');
		key.append(part);
	}
	return key;
}

std::string KeyTemplate::text() const
{
	if (hashTag_ < 0)
		return "";
	std::string text;
	for (size_t n = 1; n <= columns_; n++) {
		std::string plain = "$" + std::to_string(n);
		text += (n > 1 ? ":" : "") + (static_cast<int>(n - 1) == hashTag_ ? "{" + plain + "}" : plain);
	}
	return text;
}

} // namespace cachepusher::composite_key
