/* The keys payload: escaping, parsing, and packing keys into payloads NOTIFY accepts. */
#include "notification_payload.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace cachepusher::notification_payload {
namespace {

/* What key_notifier passes: NOTIFY refuses a payload of 8000 bytes (its limit counts the NUL). */
constexpr size_t notifyLimit = 7999;

std::vector<std::string> parsed(const std::string &payload, std::string *source = nullptr)
{
	Keys out;
	EXPECT_TRUE(parseKeys(payload, out)) << payload;
	if (source)
		*source = std::string(out.source);
	return out.keys;
}

TEST(EscapeKey, EscapesBackslashAndNewlineOnly)
{
	EXPECT_EQ(escapeKey("plain"), "plain");
	EXPECT_EQ(escapeKey("a\nb"), "a\\nb");
	EXPECT_EQ(escapeKey("a\\b"), "a\\\\b");
	EXPECT_EQ(escapeKey("\\n"), "\\\\n");
	EXPECT_EQ(escapeKey("tab\there \r"), "tab\there \r");
	EXPECT_EQ(escapeKey(""), "");
}

TEST(ParseKeys, SourceAndKeys)
{
	std::string source;
	EXPECT_EQ(parsed("customer\n1\n2\n42", &source), (std::vector<std::string>{"1", "2", "42"}));
	EXPECT_EQ(source, "customer");
	EXPECT_EQ(parsed("customer", &source), std::vector<std::string>{});
	EXPECT_EQ(parsed("customer\n"), std::vector<std::string>{""});
}

TEST(ParseKeys, NoSourceIsRefused)
{
	Keys out;
	EXPECT_FALSE(parseKeys("", out));
	EXPECT_FALSE(parseKeys("\n1", out));
}

TEST(ParseKeys, RoundTripsEscapedKeys)
{
	std::vector<std::string> keys{"a\nb", "back\\slash", "\\n", "\\", "\n", "", "trailing\\", "é ü \x01"};
	std::string payload = "s";
	for (const std::string &key : keys)
		payload += "\n" + escapeKey(key);
	EXPECT_EQ(parsed(payload), keys);
}

TEST(ParseKeys, ALoneTrailingBackslashStays)
{
	/* Not written by escapeKey, but sent by anyone who may NOTIFY: kept as it is. */
	EXPECT_EQ(parsed("s\nab\\"), std::vector<std::string>{"ab\\"});
	EXPECT_EQ(parsed("s\n\\x"), std::vector<std::string>{"x"});
}

TEST(PackKeys, FewKeysMakeOnePayload)
{
	std::vector<std::string> payloads;
	EXPECT_TRUE(packKeys("customer", std::vector<std::string>{"1", "a\nb", "3"}, notifyLimit, payloads));
	ASSERT_EQ(payloads.size(), 1u);
	EXPECT_EQ(payloads[0], "customer\n1\na\\nb\n3");
	EXPECT_EQ(parsed(payloads[0]), (std::vector<std::string>{"1", "a\nb", "3"}));
}

TEST(PackKeys, NoKeysNoPayload)
{
	std::vector<std::string> payloads;
	EXPECT_TRUE(packKeys("customer", std::vector<std::string>{}, notifyLimit, payloads));
	EXPECT_TRUE(payloads.empty());
}

TEST(PackKeys, ManyKeysSplitAtTheLimitAndRoundTrip)
{
	std::vector<std::string> keys;
	for (int i = 0; i < 5000; i++)
		keys.push_back(std::to_string(i) + (i % 7 == 0 ? "\n\\" : ""));
	std::vector<std::string> payloads;
	EXPECT_TRUE(packKeys("source", keys, notifyLimit, payloads));
	EXPECT_GT(payloads.size(), 1u);
	std::vector<std::string> back;
	for (size_t i = 0; i < payloads.size(); i++) {
		EXPECT_LE(payloads[i].size(), notifyLimit);
		/* Full: the next payload's first key would not have fitted. */
		if (i + 1 < payloads.size()) {
			std::string next = parsed(payloads[i + 1]).front();
			EXPECT_GT(payloads[i].size() + 1 + escapeKey(next).size(), notifyLimit);
		}
		std::string source;
		for (std::string &key : parsed(payloads[i], &source))
			back.push_back(key);
		EXPECT_EQ(source, "source");
	}
	EXPECT_EQ(back, keys);
}

TEST(PackKeys, AKeyThatFitsExactly)
{
	/* "s" + "\n" + key: a key of limit - 2 bytes fills a payload to the byte. */
	std::string key(notifyLimit - 2, 'k');
	std::vector<std::string> payloads;
	EXPECT_TRUE(packKeys("s", std::vector<std::string>{key, "1"}, notifyLimit, payloads));
	ASSERT_EQ(payloads.size(), 2u);
	EXPECT_EQ(payloads[0].size(), notifyLimit);
	EXPECT_EQ(payloads[1], "s\n1");
}

TEST(PackKeys, KeysThatAloneDoNotFitAreLeftOut)
{
	std::string tooLong(notifyLimit - 1, 'k');
	/* Escaping makes a key longer: 4000 newlines are 8000 bytes escaped. */
	std::string tooLongEscaped(4000, '\n');
	std::vector<std::string> payloads;
	EXPECT_FALSE(
		packKeys("s", std::vector<std::string>{"1", tooLong, "2", tooLongEscaped, "3"}, notifyLimit, payloads));
	ASSERT_EQ(payloads.size(), 1u);
	EXPECT_EQ(payloads[0], "s\n1\n2\n3");
}

TEST(PackKeys, StringViewsAndStringsPackAlike)
{
	std::vector<std::string> keys{"x", "y\\z"};
	std::vector<std::string_view> views(keys.begin(), keys.end());
	std::vector<std::string> fromStrings;
	std::vector<std::string> fromViews;
	packKeys("s", keys, notifyLimit, fromStrings);
	packKeys("s", views, notifyLimit, fromViews);
	EXPECT_EQ(fromStrings, fromViews);
}

} // namespace
} // namespace cachepusher::notification_payload
