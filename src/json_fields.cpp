#include "json_fields.hpp"

#include "cpp_only.hpp"

namespace cachepusher::json_fields {
namespace {

class Scanner {
public:
	explicit Scanner(std::string_view text) : text_(text) {}

	void skipSpace()
	{
		while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' || text_[pos_] == '\r'))
			pos_++;
	}
	bool atEnd() const { return pos_ >= text_.size(); }
	char peek() const { return atEnd() ? '\0' : text_[pos_]; }
	bool take(char c)
	{
		if (peek() != c || atEnd())
			return false;
		pos_++;
		return true;
	}

	/* A string at pos_ (its opening quote), unescaped into out. */
	bool string(std::string &out)
	{
		if (!take('"'))
			return false;
		out.clear();
		while (!atEnd()) {
			char c = text_[pos_++];
			if (c == '"')
				return true;
			if (c != '\\') {
				out.push_back(c);
				continue;
			}
			if (atEnd())
				return false;
			switch (text_[pos_++]) {
			case '"': out.push_back('"'); break;
			case '\\': out.push_back('\\'); break;
			case '/': out.push_back('/'); break;
			case 'b': out.push_back('\b'); break;
			case 'f': out.push_back('\f'); break;
			case 'n': out.push_back('\n'); break;
			case 'r': out.push_back('\r'); break;
			case 't': out.push_back('\t'); break;
			case 'u':
				if (!unicodeEscape(out))
					return false;
				break;
			default: return false;
			}
		}
		return false;
	}

	/* A value of any kind at pos_, skipped; false when it is not one. */
	bool skipValue(int depth = 0)
	{
		if (depth > maxDepth)
			return false;
		std::string ignored;
		switch (peek()) {
		case '"': return string(ignored);
		case '{': return skipContainer('}', depth, true);
		case '[': return skipContainer(']', depth, false);
		default: return skipScalar();
		}
	}

	size_t pos() const { return pos_; }
	std::string_view slice(size_t from, size_t to) const { return text_.substr(from, to - from); }

private:
	/* Deeper than PostgreSQL's json parser allows anyway (its stack depth), and no stack overflow here. */
	static constexpr int maxDepth = 10000;

	bool hex4(unsigned &value)
	{
		if (text_.size() - pos_ < 4)
			return false;
		value = 0;
		for (int i = 0; i < 4; i++) {
			char c = text_[pos_++];
			value <<= 4;
			if (c >= '0' && c <= '9')
				value |= c - '0';
			else if (c >= 'a' && c <= 'f')
				value |= c - 'a' + 10;
			else if (c >= 'A' && c <= 'F')
				value |= c - 'A' + 10;
			else
				return false;
		}
		return true;
	}

	/* \uXXXX (after the "\u"), a surrogate pair as one character, as UTF-8. */
	bool unicodeEscape(std::string &out)
	{
		unsigned code;
		if (!hex4(code))
			return false;
		if (code >= 0xD800 && code <= 0xDBFF) {
			unsigned low;
			if (!take('\\') || !take('u') || !hex4(low) || low < 0xDC00 || low > 0xDFFF)
				return false;
			code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
		} else if (code >= 0xDC00 && code <= 0xDFFF)
			return false;
		if (code < 0x80)
			out.push_back(static_cast<char>(code));
		else if (code < 0x800) {
			out.push_back(static_cast<char>(0xC0 | (code >> 6)));
			out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
		} else if (code < 0x10000) {
			out.push_back(static_cast<char>(0xE0 | (code >> 12)));
			out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
			out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
		} else {
			out.push_back(static_cast<char>(0xF0 | (code >> 18)));
			out.push_back(static_cast<char>(0x80 | ((code >> 12) & 0x3F)));
			out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
			out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
		}
		return true;
	}

	bool skipContainer(char close, int depth, bool members)
	{
		pos_++;
		skipSpace();
		if (take(close))
			return true;
		for (;;) {
			skipSpace();
			if (members) {
				std::string ignored;
				if (!string(ignored))
					return false;
				skipSpace();
				if (!take(':'))
					return false;
				skipSpace();
			}
			if (!skipValue(depth + 1))
				return false;
			skipSpace();
			if (take(close))
				return true;
			if (!take(','))
				return false;
		}
	}

	/* A number, true, false or null: the characters that may make one up (PostgreSQL checked which). */
	bool skipScalar()
	{
		size_t start = pos_;
		while (!atEnd()) {
			char c = text_[pos_];
			bool part = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '-' || c == '+' || c == '.' || c == 'E';
			if (!part)
				break;
			pos_++;
		}
		return pos_ > start;
	}

	std::string_view text_;
	size_t pos_ = 0;
};

const char *kindOf(char first)
{
	switch (first) {
	case '[': return "an array";
	case '"': return "a string";
	case 't':
	case 'f': return "a boolean";
	case 'n': return "null";
	case '\0': return "empty";
	default: return "a number";
	}
}

} // namespace

bool split(std::string_view text, Fields &fields, std::string &error)
{
	fields.clear();
	Scanner in(text);
	in.skipSpace();
	if (in.peek() != '{') {
		error = std::string("a document written as a hash must be a JSON object, not ") + kindOf(in.peek());
		return false;
	}
	in.take('{');
	in.skipSpace();
	bool closed = in.take('}');
	while (!closed) {
		in.skipSpace();
		std::string name;
		if (!in.string(name))
			break;
		in.skipSpace();
		if (!in.take(':'))
			break;
		in.skipSpace();
		std::string value;
		if (in.peek() == '"') {
			if (!in.string(value))
				break;
		} else {
			size_t start = in.pos();
			if (!in.skipValue())
				break;
			value = in.slice(start, in.pos());
		}
		fields.emplace_back(std::move(name), std::move(value));
		in.skipSpace();
		if (in.take('}'))
			closed = true;
		else if (!in.take(','))
			break;
	}
	in.skipSpace();
	if (!closed || !in.atEnd()) {
		fields.clear();
		error = "the document is not valid JSON (at byte " + std::to_string(in.pos()) + ")";
		return false;
	}
	return true;
}

} // namespace cachepusher::json_fields
