/* Keys of several columns as one string, and their layout in Redis under a key template. */
#include "composite_key.hpp"

#include <gtest/gtest.h>

#include <random>
#include <set>

namespace cachepusher::composite_key {
namespace {

std::vector<std::string> decoded(std::string_view key, size_t columns)
{
	std::vector<std::string> components;
	EXPECT_TRUE(decode(key, columns, components)) << key;
	return components;
}

KeyTemplate templateOk(std::string_view text, size_t columns)
{
	std::string error;
	auto parsed = KeyTemplate::parse(text, columns, error);
	EXPECT_TRUE(parsed) << text << ": " << error;
	return parsed.value_or(KeyTemplate());
}

std::string templateError(std::string_view text, size_t columns)
{
	std::string error;
	EXPECT_FALSE(KeyTemplate::parse(text, columns, error)) << text;
	return error;
}

TEST(CompositeKey, OneColumnIsTheValueAsItIs)
{
	EXPECT_EQ(encode({"a:b\\{c}"}), "a:b\\{c}");
	EXPECT_EQ(decoded("a:b\\{c}", 1), std::vector<std::string>{"a:b\\{c}"});
	EXPECT_EQ(decoded("", 1), std::vector<std::string>{""});
}

TEST(CompositeKey, ColumnsJoinedBySeparatorsTheyCannotContain)
{
	EXPECT_EQ(encode({"web", "42"}), "web:42");
	EXPECT_EQ(encode({"a:b", "c\\d", "{e}"}), "a\\:b:c\\\\d:\\{e\\}");
	EXPECT_EQ(encode({"", ""}), ":");
	EXPECT_EQ(decoded("a\\:b:c\\\\d:\\{e\\}", 3), (std::vector<std::string>{"a:b", "c\\d", "{e}"}));
	EXPECT_EQ(decoded(":", 2), (std::vector<std::string>{"", ""}));
}

TEST(CompositeKey, WhatNoEncodingGivesDoesNotDecode)
{
	std::vector<std::string> components;
	for (std::string_view bad : {"a", "a:b:c", "", "a\\:b", "a\\b:c", "a:b\\", "{a}:b", "a:b}", "a\\"}) {
		EXPECT_FALSE(decode(bad, 2, components)) << bad;
		EXPECT_FALSE(isKey(bad, 2)) << bad;
		EXPECT_TRUE(isKey(bad, 1)) << bad;
	}
	EXPECT_TRUE(isKey("a\\:b:c", 2));
}

TEST(CompositeKey, DifferentComponentsNeverShareAKey)
{
	std::mt19937 random(7);
	const std::string alphabet = "ab:\\{}";
	std::set<std::vector<std::string>> seen;
	std::set<std::string> keys;
	for (int round = 0; round < 20000; round++) {
		std::vector<std::string> components(2 + random() % 2);
		for (std::string &c : components)
			for (size_t n = random() % 4; n > 0; n--)
				c.push_back(alphabet[random() % alphabet.size()]);
		std::vector<std::string_view> views(components.begin(), components.end());
		std::string key = encode(views);
		EXPECT_EQ(decoded(key, components.size()), components);
		if (seen.insert(components).second) {
			EXPECT_TRUE(keys.insert(key).second) << key;
		}
		KeyTemplate tagged = templateOk(components.size() == 2 ? "$1:{$2}" : "{$1}:$2:$3", components.size());
		EXPECT_EQ(tagged.keyOf(tagged.redisSuffix(key)), key);
	}
}

TEST(CompositeKey, TheDefaultTemplateIsTheKeyItself)
{
	KeyTemplate plain = templateOk("", 2);
	EXPECT_EQ(plain.hashTag(), -1);
	EXPECT_EQ(plain.text(), "");
	EXPECT_EQ(plain.redisSuffix("web:42"), "web:42");
	EXPECT_EQ(plain.keyOf("web:42"), "web:42");
	EXPECT_EQ(plain.keyOf("web:42:7"), std::nullopt);
	EXPECT_EQ(plain.keyOf("{web}:42"), std::nullopt);
	EXPECT_EQ(templateOk("$1:$2", 2), plain);
	KeyTemplate one = templateOk("", 1);
	EXPECT_EQ(one.keyOf("any:thing{}"), "any:thing{}");
}

TEST(CompositeKey, ABracedComponentIsTheHashTag)
{
	KeyTemplate tagged = templateOk("{$1}:$2", 2);
	EXPECT_EQ(tagged.hashTag(), 0);
	EXPECT_EQ(tagged.text(), "{$1}:$2");
	EXPECT_EQ(tagged.redisSuffix("web:42"), "{web}:42");
	EXPECT_EQ(tagged.redisSuffix("a\\:b:\\{c"), "{a\\:b}:\\{c");
	EXPECT_EQ(tagged.keyOf("{web}:42"), "web:42");
	EXPECT_EQ(tagged.keyOf("{a\\:b}:\\{c"), "a\\:b:\\{c");
	for (std::string_view bad : {"web:42", "{web:42}", "{web}:{42}", "{we}b}:42", "{web}:42:1", "{}", "{"})
		EXPECT_EQ(tagged.keyOf(bad), std::nullopt) << bad;
	EXPECT_EQ(templateOk("$1:{$2}", 2).redisSuffix("web:42"), "web:{42}");

	KeyTemplate whole = templateOk("{$1}", 1);
	EXPECT_EQ(whole.redisSuffix("a}b"), "{a}b}");
	EXPECT_EQ(whole.keyOf("{a}b}"), "a}b");
	EXPECT_EQ(whole.keyOf("a}b"), std::nullopt);
}

TEST(CompositeKey, OnlyTheTemplateGrammarIsTaken)
{
	EXPECT_EQ(templateError("{$1}:{$2}", 2),
			  "a key template may put one component in braces, not two: Redis takes the first as the hash tag");
	EXPECT_EQ(templateError("$2:$1", 2), "component 1 of the key template must be $1 or {$1}, not \"$2\"");
	EXPECT_EQ(templateError("$1", 2),
			  "the key template must name each of the key's 2 columns once, in order, joined by ':' ($1:$2)");
	EXPECT_EQ(templateError("$1:$2:$3", 2),
			  "the key template must name each of the key's 2 columns once, in order, joined by ':' ($1:$2)");
	EXPECT_EQ(templateError("$1:$2", 1), "the key template must name each of the key's 1 column once, in order, joined by ':' ($1)");
	EXPECT_EQ(templateError("pay:$1", 1), "component 1 of the key template must be $1 or {$1}, not \"pay\"");
	EXPECT_EQ(templateError("{ $1 }", 1), "component 1 of the key template must be $1 or {$1}, not \"{ $1 }\"");
}

} // namespace
} // namespace cachepusher::composite_key
