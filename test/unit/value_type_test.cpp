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
	EXPECT_EQ(parse("json"), std::nullopt);
	EXPECT_STREQ(name(ValueType::String), "string");
	EXPECT_STREQ(name(ValueType::Hash), "hash");
}

TEST(ValueType, AStringIsSetWithItsTtl)
{
	Argv argv;
	std::string error;
	ASSERT_TRUE(writeCommand(ValueType::String, "customer:1", "[1]", 0, argv, error));
	EXPECT_EQ(argv, (Argv{"SET", "customer:1", "[1]"}));
	ASSERT_TRUE(writeCommand(ValueType::String, "customer:1", "{}", 1500, argv, error));
	EXPECT_EQ(argv, (Argv{"SET", "customer:1", "{}", "PX", "1500"}));
	EXPECT_EQ(readCommand(ValueType::String, "customer:1"), (Argv{"GET", "customer:1"}));
}

TEST(ValueType, AHashIsOneScriptWithTheKeyTheTtlAndTheFields)
{
	Argv argv;
	std::string error;
	ASSERT_TRUE(writeCommand(ValueType::Hash, "c:1", R"({"id": 1, "name": "Ada", "tags": ["x"]})", 60000, argv, error));
	ASSERT_EQ(argv.size(), 11u);
	EXPECT_EQ(argv[0], "EVAL");
	EXPECT_NE(argv[1].find("redis.call('DEL', KEYS[1])"), std::string::npos);
	EXPECT_EQ(Argv(argv.begin() + 2, argv.end()),
			  (Argv{"1", "c:1", "60000", "id", "1", "name", "Ada", "tags", "[\"x\"]"}));
	ASSERT_TRUE(writeCommand(ValueType::Hash, "c:1", "{}", 0, argv, error));
	EXPECT_EQ(Argv(argv.begin() + 2, argv.end()), (Argv{"1", "c:1", "0"}));
	EXPECT_EQ(readCommand(ValueType::Hash, "c:1"), (Argv{"HGETALL", "c:1"}));
}

TEST(ValueType, OnlyAnObjectBecomesAHash)
{
	Argv argv;
	std::string error;
	EXPECT_FALSE(writeCommand(ValueType::Hash, "c:1", "[1, 2]", 0, argv, error));
	EXPECT_EQ(error, "a document written as a hash must be a JSON object, not an array");
	EXPECT_TRUE(argv.empty());
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
