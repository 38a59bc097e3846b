/* The commands that write a document as each value type, and comparing a hash read back. */
#include "value_type.hpp"

#include <gtest/gtest.h>

namespace cachepusher::value_type {
namespace {

using Argv = std::vector<std::string>;

TEST(ValueType, Names)
{
	EXPECT_EQ(parse("string"), ValueType::String);
	EXPECT_EQ(parse("hash"), ValueType::Hash);
	EXPECT_EQ(parse("Hash"), std::nullopt);
	EXPECT_EQ(parse("json"), ValueType::Json);
	EXPECT_EQ(parse("JSON"), std::nullopt);
	EXPECT_STREQ(name(ValueType::String), "string");
	EXPECT_STREQ(name(ValueType::Hash), "hash");
	EXPECT_STREQ(name(ValueType::Json), "json");
}

TEST(ValueType, AStringIsSetWithItsTtl)
{
	Argv argv;
	std::string error;
	ASSERT_TRUE(writeCommand(ValueType::String, "customer:1", "[1]", Expiry{}, argv, error));
	EXPECT_EQ(argv, (Argv{"SET", "customer:1", "[1]"}));
	ASSERT_TRUE(writeCommand(ValueType::String, "customer:1", "{}", Expiry{1500, ""}, argv, error));
	EXPECT_EQ(argv, (Argv{"SET", "customer:1", "{}", "PX", "1500"}));
	EXPECT_EQ(readCommand(ValueType::String, "customer:1"), (Argv{"GET", "customer:1"}));
}

TEST(ValueType, AHashIsOneScriptWithTheKeyTheTtlAndTheFields)
{
	Argv argv;
	std::string error;
	ASSERT_TRUE(writeCommand(ValueType::Hash, "c:1", R"({"id": 1, "name": "Ada", "tags": ["x"]})", Expiry{60000, ""}, argv, error));
	ASSERT_EQ(argv.size(), 11u);
	EXPECT_EQ(argv[0], "EVAL");
	EXPECT_NE(argv[1].find("redis.call('DEL', KEYS[1])"), std::string::npos);
	EXPECT_EQ(Argv(argv.begin() + 2, argv.end()),
			  (Argv{"1", "c:1", "60000", "id", "1", "name", "Ada", "tags", "[\"x\"]"}));
	ASSERT_TRUE(writeCommand(ValueType::Hash, "c:1", "{}", Expiry{}, argv, error));
	EXPECT_EQ(Argv(argv.begin() + 2, argv.end()), (Argv{"1", "c:1", "0"}));
	EXPECT_EQ(readCommand(ValueType::Hash, "c:1"), (Argv{"HGETALL", "c:1"}));
}

TEST(ValueType, JsonIsOneScriptWithTheKeyTheTtlAndTheDocument)
{
	Argv argv;
	std::string error;
	/* Any JSON value: the module stores scalars and arrays too. */
	ASSERT_TRUE(writeCommand(ValueType::Json, "c:1", "[1, 2]", Expiry{}, argv, error));
	ASSERT_EQ(argv.size(), 6u);
	EXPECT_EQ(argv[0], "EVAL");
	EXPECT_NE(argv[1].find("redis.pcall('JSON.SET', KEYS[1], '$', ARGV[2])"), std::string::npos);
	EXPECT_EQ(Argv(argv.begin() + 2, argv.end()), (Argv{"1", "c:1", "0", "[1, 2]"}));
	EXPECT_FALSE(setsTtl(ValueType::Json, argv));
	ASSERT_TRUE(
		writeCommand(ValueType::Json, "c:1", R"({"id": 1, "expires_in": 2})", Expiry{9000, "expires_in"}, argv, error));
	EXPECT_EQ(Argv(argv.begin() + 2, argv.end()), (Argv{"1", "c:1", "2000", R"({"id": 1, "expires_in": 2})"}));
	EXPECT_TRUE(setsTtl(ValueType::Json, argv));
	/* A TTL member needs an object, as for a string. */
	EXPECT_FALSE(writeCommand(ValueType::Json, "c:1", "[1]", Expiry{0, "expires_in"}, argv, error));
	EXPECT_EQ(error, "a document whose TTL is one of its members must be a JSON object");
	EXPECT_EQ(readCommand(ValueType::Json, "c:1"), (Argv{"JSON.GET", "c:1"}));
	EXPECT_STREQ(writeCommandName(ValueType::Json), "the JSON.SET script (EVAL)");
}

TEST(ValueType, AServerWithoutAJsonModuleIsNamedAsTheCause)
{
	/* Redis's words from a script and from a client; Valkey's. */
	for (const char *error : {"ERR Unknown Redis command called from script",
							  "ERR unknown command 'JSON.GET', with args beginning with: 'c:1' ",
							  "ERR Unknown Valkey command called from script"})
		EXPECT_NE(refusal(ValueType::Json, "JSON.GET", error).find("the server has no JSON module"), std::string::npos)
			<< error;
	/* Any other refusal, or an unknown command for another type, is said as Redis said it. */
	EXPECT_EQ(refusal(ValueType::Json, "the JSON.SET script (EVAL)", "SYNTAXERR Failed to parse JSON string"),
			  "Redis refused the JSON.SET script (EVAL): SYNTAXERR Failed to parse JSON string");
	EXPECT_EQ(refusal(ValueType::String, "SET", "ERR unknown command 'SET'"),
			  "Redis refused SET: ERR unknown command 'SET'");
	EXPECT_EQ(refusal(ValueType::Hash, "HGETALL", "ERR Unknown Redis command called from script"),
			  "Redis refused HGETALL: ERR Unknown Redis command called from script");
}

TEST(ValueType, OnlyAnObjectBecomesAHash)
{
	Argv argv;
	std::string error;
	EXPECT_FALSE(writeCommand(ValueType::Hash, "c:1", "[1, 2]", Expiry{}, argv, error));
	EXPECT_EQ(error, "a document written as a hash must be a JSON object, not an array");
	EXPECT_TRUE(argv.empty());
}

TEST(ValueType, ADocumentMayNameItsOwnTtlInSeconds)
{
	Argv argv;
	std::string error;
	Expiry own{0, "expires_in"};
	ASSERT_TRUE(writeCommand(ValueType::String, "s:1", R"({"id": 1, "expires_in": 90})", own, argv, error));
	EXPECT_EQ(argv, (Argv{"SET", "s:1", R"({"id": 1, "expires_in": 90})", "PX", "90000"}));
	/* Fractions round up to the millisecond; the last of a name given twice counts. */
	ASSERT_TRUE(writeCommand(ValueType::String, "s:1", R"({"expires_in": 5, "expires_in": 0.0015})", own, argv, error));
	EXPECT_EQ(argv.back(), "2");
	ASSERT_TRUE(writeCommand(ValueType::String, "s:1", R"({"expires_in": 0.0001})", own, argv, error));
	EXPECT_EQ(argv.back(), "1");
	ASSERT_TRUE(writeCommand(ValueType::String, "s:1", R"({"expires_in": 1e2})", own, argv, error));
	EXPECT_EQ(argv.back(), "100000");
	/* A string that holds a number is that number (a text column's value). */
	ASSERT_TRUE(writeCommand(ValueType::String, "s:1", R"({"expires_in": "60"})", own, argv, error));
	EXPECT_EQ(argv.back(), "60000");
	/* None named (absent, null): the source's TTL, or none. */
	ASSERT_TRUE(writeCommand(ValueType::String, "s:1", R"({"id": 1})", own, argv, error));
	EXPECT_EQ(argv.size(), 3u);
	ASSERT_TRUE(writeCommand(ValueType::String, "s:1", R"({"expires_in": null})", Expiry{7000, "expires_in"}, argv, error));
	EXPECT_EQ(argv, (Argv{"SET", "s:1", R"({"expires_in": null})", "PX", "7000"}));
	/* A hash too: the member stays a field. */
	ASSERT_TRUE(writeCommand(ValueType::Hash, "h:1", R"({"a": 1, "expires_in": 3})", own, argv, error));
	EXPECT_EQ(Argv(argv.begin() + 2, argv.end()), (Argv{"1", "h:1", "3000", "a", "1", "expires_in", "3"}));
}

TEST(ValueType, WhetherAWriteSetsATtl)
{
	Argv argv;
	std::string error;
	Expiry own{0, "expires_in"};
	ASSERT_TRUE(writeCommand(ValueType::String, "s:1", R"({"expires_in": 9})", own, argv, error));
	EXPECT_TRUE(setsTtl(ValueType::String, argv));
	ASSERT_TRUE(writeCommand(ValueType::String, "s:1", R"({"id": 9})", own, argv, error));
	EXPECT_FALSE(setsTtl(ValueType::String, argv));
	ASSERT_TRUE(writeCommand(ValueType::Hash, "h:1", R"({"expires_in": 9})", own, argv, error));
	EXPECT_TRUE(setsTtl(ValueType::Hash, argv));
	ASSERT_TRUE(writeCommand(ValueType::Hash, "h:1", R"({"id": 9})", own, argv, error));
	EXPECT_FALSE(setsTtl(ValueType::Hash, argv));
	/* An empty object leaves no key, so nothing to expire. */
	ASSERT_TRUE(writeCommand(ValueType::Hash, "h:1", "{}", Expiry{5000, ""}, argv, error));
	EXPECT_FALSE(setsTtl(ValueType::Hash, argv));
}

TEST(ValueType, ATtlMemberOutOfRangeOrNoNumberFailsTheDocument)
{
	Argv argv;
	std::string error;
	Expiry own{60000, "expires_in"};
	for (const char *doc : {R"({"expires_in": 0})", R"({"expires_in": -5})",
							R"({"expires_in": "sixty"})", R"({"expires_in": true})", R"({"expires_in": [60]})",
							R"({"expires_in": 4e9})"}) {
		EXPECT_FALSE(writeCommand(ValueType::String, "s:1", doc, own, argv, error)) << doc;
		EXPECT_EQ(error, "the document's TTL member \"expires_in\" must be a positive number of seconds, at most 100 years, or null");
	}
	EXPECT_FALSE(writeCommand(ValueType::String, "s:1", "[60]", own, argv, error));
	EXPECT_EQ(error, "a document whose TTL is one of its members must be a JSON object");
}

/* The document written as a hash, then compared with what was read back. */
bool sameHash(const std::string &document, const json_fields::Fields &inRedis)
{
	Argv argv;
	std::string error;
	return writeCommand(ValueType::Hash, "h:1", document, Expiry{}, argv, error) && value_type::sameHash(argv, inRedis);
}

TEST(ValueType, AHashReadBackEqualsItsDocumentInAnyOrder)
{
	EXPECT_TRUE(sameHash(R"({"a": 1, "b": "x"})", {{"b", "x"}, {"a", "1"}}));
	EXPECT_TRUE(sameHash("{}", {}));
	/* The last of a name given twice is what HSET kept. */
	EXPECT_TRUE(sameHash(R"({"a": 1, "a": 2})", {{"a", "2"}}));
	EXPECT_FALSE(sameHash(R"({"a": 1, "a": 2})", {{"a", "1"}}));
	EXPECT_FALSE(sameHash(R"({"a": 1})", {{"a", "1"}, {"b", "2"}}));
	EXPECT_FALSE(sameHash(R"({"a": 1, "b": 2})", {{"a", "1"}}));
	EXPECT_FALSE(sameHash(R"({"a": 1})", {{"a", "2"}}));
	EXPECT_FALSE(sameHash(R"({"a": "1"})", {{"a", "\"1\""}}));
	EXPECT_FALSE(sameHash("[1]", {}));
}

} // namespace
} // namespace cachepusher::value_type
