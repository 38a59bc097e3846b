/* Splitting a JSON object into the fields of a Redis hash. */
#include "json_fields.hpp"

#include <gtest/gtest.h>

namespace cachepusher::json_fields {
namespace {

Fields splitOk(std::string_view text)
{
	Fields fields;
	std::string error;
	EXPECT_TRUE(split(text, fields, error)) << text << ": " << error;
	return fields;
}

std::string splitError(std::string_view text)
{
	Fields fields;
	std::string error;
	EXPECT_FALSE(split(text, fields, error)) << text;
	EXPECT_TRUE(fields.empty());
	return error;
}

TEST(JsonFields, StringsAreTheirCharactersEverythingElseItsJsonText)
{
	Fields expected = {{"id", "42"},
					   {"name", "Ada"},
					   {"vip", "true"},
					   {"note", "null"},
					   {"score", "-1.5e3"},
					   {"tags", "[\"a\", \"b\"]"},
					   {"address", "{\"city\": \"Oslo\", \"zip\": [1, {}]}"}};
	EXPECT_EQ(splitOk(R"({"id": 42, "name": "Ada", "vip": true, "note": null, "score": -1.5e3,)"
					  R"( "tags": ["a", "b"], "address": {"city": "Oslo", "zip": [1, {}]}})"),
			  expected);
}

TEST(JsonFields, WhitespaceAnywhereAndTheEmptyObject)
{
	EXPECT_EQ(splitOk(" \n{ \"a\" :\t1 ,\r\n\"b\":\"x\" } \n"), (Fields{{"a", "1"}, {"b", "x"}}));
	EXPECT_TRUE(splitOk("{}").empty());
	EXPECT_TRUE(splitOk(" { } ").empty());
}

TEST(JsonFields, EscapesAreUnescapedInNamesAndStringValues)
{
	EXPECT_EQ(splitOk(R"({"a\"b": "line\nnext\ttab \\ \/ \b\f\r"})"),
			  (Fields{{"a\"b", "line\nnext\ttab \\ / \b\f\r"}}));
	/* \u escapes as UTF-8: one, two, three bytes, and a surrogate pair as four. */
	EXPECT_EQ(splitOk(R"({"u": "\u0041\u00e9\u20AC\ud83d\ude00"})"), (Fields{{"u", "A\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80"}}));
	/* json (not jsonb) keeps \u0000: a hash field may hold a zero byte. */
	EXPECT_EQ(splitOk(R"({"z": "a\u0000b"})"), (Fields{{"z", std::string("a\0b", 3)}}));
	/* Inside nested values the JSON text is kept as it is, escapes and all. */
	EXPECT_EQ(splitOk(R"({"n": ["\"}", "\u0041"]})"), (Fields{{"n", R"(["\"}", "\u0041"])"}}));
	/* Bytes that are not ASCII pass through. */
	EXPECT_EQ(splitOk("{\"city\": \"Troms\xC3\xB8\"}"), (Fields{{"city", "Troms\xC3\xB8"}}));
}

TEST(JsonFields, ANameGivenTwiceComesTwice)
{
	EXPECT_EQ(splitOk(R"({"a": 1, "a": 2})"), (Fields{{"a", "1"}, {"a", "2"}}));
}

TEST(JsonFields, OtherJsonValuesAreNoObject)
{
	EXPECT_EQ(splitError("[1, 2]"), "a document written as a hash must be a JSON object, not an array");
	EXPECT_EQ(splitError("\"text\""), "a document written as a hash must be a JSON object, not a string");
	EXPECT_EQ(splitError("42"), "a document written as a hash must be a JSON object, not a number");
	EXPECT_EQ(splitError(" true"), "a document written as a hash must be a JSON object, not a boolean");
	EXPECT_EQ(splitError("null"), "a document written as a hash must be a JSON object, not null");
	EXPECT_EQ(splitError(""), "a document written as a hash must be a JSON object, not empty");
}

TEST(JsonFields, BrokenJsonIsRefusedNotMisread)
{
	for (const char *text : {"{", "{\"a\"", "{\"a\":", "{\"a\": 1", "{\"a\": 1,}", "{\"a\" 1}", "{a: 1}", "{\"a\": [1, 2}",
							 "{\"a\": \"open}", "{\"a\": \"bad \\x escape\"}", "{\"a\": \"\\ud83d alone\"}",
							 "{\"a\": \"\\ude00\"}", "{\"a\": \"\\u12\"}", "{\"a\": 1} {}", "{\"a\": 1} x", "{\"a\": }"})
		EXPECT_NE(splitError(text).find("not valid JSON"), std::string::npos) << text;
}

TEST(JsonFields, DeepNestingDoesNotOverflowTheStack)
{
	std::string deep = "{\"a\": " + std::string(20000, '[') + std::string(20000, ']') + "}";
	EXPECT_NE(splitError(deep).find("not valid JSON"), std::string::npos);
	std::string fine = "{\"a\": " + std::string(500, '[') + std::string(500, ']') + "}";
	EXPECT_EQ(splitOk(fine).size(), 1u);
}

} // namespace
} // namespace cachepusher::json_fields
