#include "redis_connection.hpp"

#include "pg_boundary.hpp"

#include <cerrno>
#include <cstring>
#include <hiredis/hiredis.h>
#include <sys/socket.h>

extern "C" {
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/timestamp.h"
}

namespace cachepusher {

bool RedisAddress::sameTarget(const RedisAddress &other) const
{
	return host == other.host && port == other.port && db == other.db && username == other.username &&
		   password == other.password;
}

std::string RedisAddress::describe() const
{
	if (!host.empty() && host[0] == '/')
		return host;
	return host + ":" + std::to_string(port);
}

void ReplyDeleter::operator()(redisReply *reply) const
{
	freeReplyObject(reply);
}

bool isErrorReply(const redisReply *reply)
{
	return reply->type == REDIS_REPLY_ERROR;
}

std::string describeReply(const redisReply *reply)
{
	switch (reply->type) {
	case REDIS_REPLY_STATUS:
	case REDIS_REPLY_ERROR:
	case REDIS_REPLY_STRING:
		return std::string(reply->str, reply->len);
	case REDIS_REPLY_INTEGER:
		return std::to_string(reply->integer);
	case REDIS_REPLY_NIL:
		return "(nil)";
	default:
		return "(array)";
	}
}

RedisConnection::RedisConnection(std::function<void()> onWake) : onWake_(std::move(onWake)) {}

RedisConnection::~RedisConnection()
{
	disconnect();
}

void RedisConnection::configure(const RedisAddress &address)
{
	if (!address.sameTarget(address_))
		disconnect();
	address_ = address;
}

void RedisConnection::disconnect()
{
	if (context_)
		redisFree(context_);
	context_ = nullptr;
	queued_ = 0;
	inFlight_ = 0;
}

void RedisConnection::fail(const std::string &what)
{
	std::string message = what;
	if (context_ && context_->err && context_->errstr[0])
		message += ": " + std::string(context_->errstr);
	disconnect();
	throw RedisError(message);
}

bool RedisConnection::waitSocket(Wait what, long timeoutMs)
{
	int socketEvents = what == Wait::Readable   ? WL_SOCKET_READABLE
					   : what == Wait::Writable ? WL_SOCKET_WRITEABLE
												: WL_SOCKET_READABLE | WL_SOCKET_WRITEABLE;
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), timeoutMs);
	for (;;) {
		long remaining = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), deadline);
		if (remaining <= 0)
			return false;
		int fd = context_->fd;
		int rc = pg::call([&] {
			return WaitLatchOrSocket(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH | socketEvents,
									 fd, remaining, PG_WAIT_EXTENSION);
		});
		if (rc & WL_LATCH_SET) {
			ResetLatch(MyLatch);
			pg::checkInterrupts();
			onWake_();
		}
		if (rc & socketEvents)
			return true;
	}
}

void RedisConnection::connect()
{
	disconnect();
	const RedisAddress &a = address_;
	context_ = a.host[0] == '/' ? redisConnectUnixNonBlock(a.host.c_str())
								: redisConnectNonBlock(a.host.c_str(), a.port);
	if (context_ == nullptr)
		throw RedisError("could not allocate a Redis connection");
	std::string target = "could not connect to Redis at " + a.describe();
	if (context_->err)
		fail(target);
	if (!waitSocket(Wait::Writable, a.connectTimeoutMs))
		fail(target + ": timed out after " + std::to_string(a.connectTimeoutMs) + " ms");
	int socketError = 0;
	socklen_t length = sizeof(socketError);
	if (getsockopt(context_->fd, SOL_SOCKET, SO_ERROR, &socketError, &length) != 0)
		socketError = errno;
	if (socketError != 0)
		fail(target + ": " + strerror(socketError));

	if (!a.password.empty()) {
		if (a.username.empty())
			append({"AUTH", a.password});
		else
			append({"AUTH", a.username, a.password});
	}
	std::string db = std::to_string(a.db);
	append({"SELECT", db});
	for (auto &reply : exchange())
		if (isErrorReply(reply.get()))
			fail("Redis at " + a.describe() + " refused the connection set-up: " + describeReply(reply.get()));
}

void RedisConnection::append(std::initializer_list<std::string_view> argv)
{
	constexpr size_t maxArgs = 8;
	const char *args[maxArgs];
	size_t lengths[maxArgs];
	if (argv.size() > maxArgs)
		throw std::logic_error("too many Redis arguments");
	int argc = 0;
	for (std::string_view arg : argv) {
		args[argc] = arg.data();
		lengths[argc] = arg.size();
		argc++;
	}
	if (context_ == nullptr)
		throw RedisError("not connected to Redis");
	if (redisAppendCommandArgv(context_, argc, args, lengths) != REDIS_OK)
		fail("could not queue a Redis command");
	queued_++;
}

void RedisConnection::send()
{
	if (context_ == nullptr)
		throw RedisError("not connected to Redis");
	inFlight_ += queued_;
	queued_ = 0;
	/* What the socket does not take now goes out in exchange(), which waits for it to be writable. */
	int writeDone = 0;
	if (redisBufferWrite(context_, &writeDone) == REDIS_ERR)
		fail("could not send to Redis at " + address_.describe());
}

std::vector<RedisReplyPtr> RedisConnection::exchange()
{
	/* Replies of a pipeline in flight would come first and be taken for ours. */
	if (inFlight_ != 0)
		throw std::logic_error("a Redis exchange while another pipeline is in flight");
	send();
	return receive();
}

std::vector<RedisReplyPtr> RedisConnection::receive()
{
	if (context_ == nullptr)
		throw RedisError("not connected to Redis");
	std::vector<RedisReplyPtr> replies;
	size_t expected = inFlight_ + queued_;
	inFlight_ = 0;
	queued_ = 0;
	replies.reserve(expected);
	int writeDone = 0;
	while (replies.size() < expected) {
		if (!writeDone && redisBufferWrite(context_, &writeDone) == REDIS_ERR)
			fail("could not send to Redis at " + address_.describe());
		for (;;) {
			void *reply = nullptr;
			if (redisGetReplyFromReader(context_, &reply) == REDIS_ERR)
				fail("could not parse a reply from Redis at " + address_.describe());
			if (reply == nullptr)
				break;
			replies.emplace_back(static_cast<redisReply *>(reply));
		}
		if (replies.size() == expected)
			break;
		/* command_timeout bounds silence, not the whole pipeline: any progress restarts it. */
		if (!waitSocket(writeDone ? Wait::Readable : Wait::ReadableOrWritable, address_.commandTimeoutMs))
			fail("Redis at " + address_.describe() + " did not answer within " +
				 std::to_string(address_.commandTimeoutMs) + " ms");
		if (redisBufferRead(context_) == REDIS_ERR)
			fail("lost the connection to Redis at " + address_.describe());
	}
	return replies;
}

} // namespace cachepusher
