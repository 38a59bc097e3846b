/* Hash slots and redirections, against what redis-server 7.0 answers to CLUSTER KEYSLOT. */
#include "cluster_slot.hpp"

#include <gtest/gtest.h>

namespace cachepusher::cluster_slot {
namespace {

TEST(KeySlot, DocumentedCrc16Vector)
{
	/* The Redis Cluster specification: CRC16 (XMODEM) of "123456789" is 0x31C3. */
	EXPECT_EQ(keySlot("123456789"), 0x31C3 % slotCount);
	EXPECT_EQ(keySlot("123456789"), 12739);
}

TEST(KeySlot, PlainKeys)
{
	EXPECT_EQ(keySlot("somekey"), 11058);
	EXPECT_EQ(keySlot("foo"), 12182);
	EXPECT_EQ(keySlot(""), 0);
}

TEST(KeySlot, HashTagsHashOnlyTheTag)
{
	EXPECT_EQ(keySlot("foo{hash_tag}"), 2515);
	EXPECT_EQ(keySlot("bar{hash_tag}"), 2515);
	EXPECT_EQ(keySlot("{user1000}.following"), keySlot("user1000"));
	EXPECT_EQ(keySlot("{user1000}.following"), 3443);
	/* Only the first tag counts. */
	EXPECT_EQ(keySlot("foo{bar}{zap}"), 5061);
	EXPECT_EQ(keySlot("foo{bar}{zap}"), keySlot("bar"));
	/* The tag ends at the first '}' after the first '{'. */
	EXPECT_EQ(keySlot("foo{{bar}}zap"), 4015);
	EXPECT_EQ(keySlot("foo{{bar}}zap"), keySlot("{bar"));
	/* A '}' before the first '{' does not matter. */
	EXPECT_EQ(keySlot("}{a}"), 15495);
	EXPECT_EQ(keySlot("}{a}"), keySlot("a"));
}

TEST(KeySlot, EmptyOrUnclosedTagsHashTheWholeKey)
{
	EXPECT_EQ(keySlot("foo{}{bar}"), 8363);
	EXPECT_EQ(keySlot("{"), 4092);
	EXPECT_EQ(keySlot("a{b"), 13340);
}

TEST(ParseRedirect, Moved)
{
	Redirect r = parseRedirect("MOVED 3999 127.0.0.1:6381");
	EXPECT_EQ(r.kind, Redirect::Kind::Moved);
	EXPECT_EQ(r.slot, 3999);
	EXPECT_EQ(r.host, "127.0.0.1");
	EXPECT_EQ(r.port, 6381);
}

TEST(ParseRedirect, AskWithAnIpv6Host)
{
	Redirect r = parseRedirect("ASK 16383 ::1:7000");
	EXPECT_EQ(r.kind, Redirect::Kind::Ask);
	EXPECT_EQ(r.slot, 16383);
	EXPECT_EQ(r.host, "::1");
	EXPECT_EQ(r.port, 7000);
}

TEST(ParseRedirect, OtherErrorsAreNoRedirection)
{
	for (const char *error : {"ERR unknown command", "MOVED", "MOVED 3999", "MOVED 16384 h:1", "MOVED -1 h:1",
							  "MOVED 1 h:0", "ASKING", "moved 1 h:1", ""})
		EXPECT_EQ(parseRedirect(error).kind, Redirect::Kind::None) << error;
}

} // namespace
} // namespace cachepusher::cluster_slot
