/* Removing repeated keys on the commit path: the first occurrence of each, in order. */
#include "distinct_keys.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace cachepusher::distinct_keys {
namespace {

std::vector<std::string> distinct(const std::vector<std::string> &input)
{
	std::vector<std::string_view> keys(input.begin(), input.end());
	keepFirstOccurrences(keys);
	return std::vector<std::string>(keys.begin(), keys.end());
}

TEST(DistinctKeys, NothingOrOneKeyStaysAsItIs)
{
	EXPECT_EQ(distinct({}), std::vector<std::string>{});
	EXPECT_EQ(distinct({"42"}), std::vector<std::string>{"42"});
	EXPECT_EQ(distinct({""}), std::vector<std::string>{""});
}

TEST(DistinctKeys, AnUpdateThatKeepsItsKeyNamesItOnce)
{
	EXPECT_EQ(distinct({"42", "42"}), std::vector<std::string>{"42"});
	EXPECT_EQ(distinct({"42", "43"}), (std::vector<std::string>{"42", "43"}));
}

TEST(DistinctKeys, KeepsTheOrderOfFirstOccurrences)
{
	EXPECT_EQ(distinct({"b", "a", "b", "c", "a", "", "c", ""}), (std::vector<std::string>{"b", "a", "c", ""}));
}

TEST(DistinctKeys, KeysThatShareAPrefixDiffer)
{
	EXPECT_EQ(distinct({"1", "10", "1", "100", "10"}), (std::vector<std::string>{"1", "10", "100"}));
}

/* Past the scanning limit the keys are hashed: the same answer for many keys, repeats anywhere. */
TEST(DistinctKeys, ManyKeysWithRepeatsFarApart)
{
	std::vector<std::string> input, expected;
	for (int i = 0; i < 5000; i++)
		input.push_back(std::to_string(i % 1234));
	for (int i = 0; i < 1234; i++)
		expected.push_back(std::to_string(i));
	EXPECT_EQ(distinct(input), expected);
}

TEST(DistinctKeys, ManyDistinctKeysAreAllKept)
{
	std::vector<std::string> input;
	for (int i = 0; i < 3000; i++)
		input.push_back("customer:" + std::to_string(i * 7919));
	EXPECT_EQ(distinct(input), input);
}

/* A child table names its parent once per child row: one key, many times. */
TEST(DistinctKeys, OneKeyManyTimes)
{
	EXPECT_EQ(distinct(std::vector<std::string>(1000, "7")), std::vector<std::string>{"7"});
}

TEST(DistinctKeys, AroundTheScanningLimit)
{
	for (int n = 14; n <= 18; n++) {
		std::vector<std::string> input, expected;
		for (int i = 0; i < n; i++)
			input.push_back(std::to_string(i / 2));
		for (int i = 0; i < (n + 1) / 2; i++)
			expected.push_back(std::to_string(i));
		EXPECT_EQ(distinct(input), expected) << n << " keys";
	}
}

} // namespace
} // namespace cachepusher::distinct_keys
