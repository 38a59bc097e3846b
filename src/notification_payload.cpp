#include "notification_payload.hpp"

#include "cpp_only.hpp" /* last: this module is PostgreSQL-free */

namespace cachepusher::notification_payload {

namespace {
std::string unescape(std::string_view escaped)
{
	std::string key;
	key.reserve(escaped.size());
	for (size_t i = 0; i < escaped.size(); i++) {
		char c = escaped[i];
		if (c == '\\' && i + 1 < escaped.size()) {
			char next = escaped[++i];
			key.push_back(next == 'n' ? '\n' : next);
		} else
			key.push_back(c);
	}
	return key;
}

/* The bytes a key takes escaped. */
size_t escapedSize(std::string_view key)
{
	size_t size = key.size();
	for (char c : key)
		size += c == '\\' || c == '\n';
	return size;
}

void appendEscaped(std::string &out, std::string_view key)
{
	for (char c : key) {
		if (c == '\\')
			out.append("\\\\");
		else if (c == '\n')
			out.append("\\n");
		else
			out.push_back(c);
	}
}
} // namespace

bool parseKeys(std::string_view payload, Keys &out)
{
	size_t end = payload.find('\n');
	out.source = payload.substr(0, end);
	out.keys.clear();
	if (out.source.empty())
		return false;
	while (end != std::string_view::npos) {
		size_t start = end + 1;
		end = payload.find('\n', start);
		std::string_view line = payload.substr(start, end == std::string_view::npos ? end : end - start);
		out.keys.push_back(unescape(line));
	}
	return true;
}

std::string escapeKey(std::string_view key)
{
	std::string escaped;
	escaped.reserve(escapedSize(key));
	appendEscaped(escaped, key);
	return escaped;
}

/* Runs in every watched commit (key_notifier): each key is appended where it goes, no copy of its own. */
bool packKeys(std::string_view source, const std::vector<std::string_view> &keys, size_t maxBytes,
			  std::vector<std::string> &payloads)
{
	bool allFit = true;
	std::string current;
	for (std::string_view key : keys) {
		size_t line = 1 + escapedSize(key);
		if (source.size() + line > maxBytes) {
			allFit = false;
			continue;
		}
		if (!current.empty() && current.size() + line > maxBytes) {
			payloads.push_back(std::move(current));
			current.clear();
		}
		if (current.empty())
			current.assign(source);
		current.push_back('\n');
		appendEscaped(current, key);
	}
	if (!current.empty())
		payloads.push_back(std::move(current));
	return allFit;
}

bool packKeys(std::string_view source, const std::vector<std::string> &keys, size_t maxBytes,
			  std::vector<std::string> &payloads)
{
	return packKeys(source, std::vector<std::string_view>(keys.begin(), keys.end()), maxBytes, payloads);
}

} // namespace cachepusher::notification_payload
