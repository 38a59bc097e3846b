#include "redis_connection.hpp"

#include "pg_boundary.hpp"
#include "socket_wait.hpp"

#include <cerrno>
#include <cstring>
#include <hiredis/hiredis.h>
#include <sys/socket.h>

extern "C" {
#include "storage/latch.h"
#include "utils/timestamp.h"
}

namespace cachepusher {

bool RedisAddress::sameTarget(const RedisAddress &other) const
{
	return host == other.host && port == other.port && db == other.db && username == other.username &&
		   password == other.password && cluster == other.cluster && sentinelMaster == other.sentinelMaster &&
		   tls == other.tls;
}

bool RedisAddress::sameData(const RedisAddress &other) const
{
	return host == other.host && port == other.port && db == other.db && cluster == other.cluster &&
		   sentinelMaster == other.sentinelMaster;
}

std::string RedisAddress::describe() const
{
	if (!host.empty() && host[0] == '/')
		return host;
	return host + ":" + std::to_string(port) + (tls.enabled ? " over TLS" : "");
}

std::string RedisAddress::describeSentinel() const
{
	RedisAddress sentinel = *this;
	sentinel.tls.enabled = tls.enabled && tls.sentinel;
	return sentinel.describe();
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
	if (context_) {
		redisFree(context_);
		socket_wait::noteSocketClosed();
	}
	context_ = nullptr;
	queued_ = 0;
	inFlight_ = 0;
}

std::string RedisConnection::where() const
{
	return role_ == Role::Sentinel ? address_.describeSentinel() : address_.describe();
}

void RedisConnection::fail(const std::string &what)
{
	std::string message = what;
	if (context_ && context_->err && context_->errstr[0])
		message += ": " + std::string(context_->errstr);
	disconnect();
	throw RedisError(message);
}

bool RedisConnection::waitWritable(long timeoutMs)
{
	socket_wait::SocketWait wait{context_->fd, WL_SOCKET_WRITEABLE, 0};
	return socket_wait::waitUntil(&wait, 1, TimestampTzPlusMilliseconds(GetCurrentTimestamp(), timeoutMs), onWake_);
}

void RedisConnection::connect(Role role)
{
	disconnect();
	role_ = role;
	const RedisAddress &a = address_;
	bool tls = a.tls.enabled && (role == Role::Data || a.tls.sentinel);
	/* Refused before the socket is opened: nothing goes out in clear text. */
	if (tls && !redis_tls::supported())
		throw RedisError("cannot reach Redis at " + where() +
						 ": cachepusher was built without TLS support (hiredis >= 1.0 with hiredis_ssl is needed)");
	if (tls && a.host[0] == '/')
		throw RedisError("cachepusher.redis_tls is on but redis_host is a unix socket (" + a.host +
						 "), which Redis serves without TLS");
	context_ = a.host[0] == '/' ? redisConnectUnixNonBlock(a.host.c_str())
								: redisConnectNonBlock(a.host.c_str(), a.port);
	if (context_ == nullptr)
		throw RedisError("could not allocate a Redis connection");
	std::string target = "could not connect to Redis at " + where();
	if (context_->err)
		fail(target);
	if (!waitWritable(a.connectTimeoutMs))
		fail(target + ": timed out after " + std::to_string(a.connectTimeoutMs) + " ms");
	int socketError = 0;
	socklen_t length = sizeof(socketError);
	if (getsockopt(context_->fd, SOL_SOCKET, SO_ERROR, &socketError, &length) != 0)
		socketError = errno;
	if (socketError != 0)
		fail(target + ": " + strerror(socketError));
	if (tls)
		handshake(target);

	/* A user without a password (nopass) still logs in: without AUTH the connection is "default"'s. */
	if (!a.username.empty())
		append({"AUTH", a.username, a.password});
	else if (!a.password.empty())
		append({"AUTH", a.password});
	std::string db = std::to_string(a.db);
	if (role == Role::Data)
		append({"SELECT", db});
	std::vector<RedisReplyPtr> replies;
	try {
		replies = exchange();
	} catch (const RedisError &e) {
		/*
		 * TLS 1.3 ends the client's side of the handshake before the server has checked the client:
		 * a server that wants a client certificate closes the connection at the first command.
		 */
		if (tls && a.tls.certFile.empty())
			throw RedisError(std::string(e.what()) +
							 " (right after the TLS handshake: does the server want a client certificate? "
							 "cachepusher.redis_tls_cert_file is not set)");
		throw;
	}
	for (auto &reply : replies) {
		/*
		 * A Sentinel often has no password, or not the data nodes' ACL user: it refuses our AUTH
		 * ("called without any password configured", or WRONGPASS for AUTH user password) and lets us
		 * in anyway. One that does need a password answers the next command with NOAUTH, which says so.
		 */
		if (role == Role::Sentinel)
			continue;
		if (!isErrorReply(reply.get()))
			continue;
		std::string refusal = describeReply(reply.get());
		/* What to change, for the refusals a setting causes. */
		const char *hint = "";
		if (refusal.rfind("NOAUTH", 0) == 0)
			hint = " (the server wants a password: set cachepusher.redis_password)";
		else if (refusal.rfind("WRONGPASS", 0) == 0)
			hint = " (check cachepusher.redis_username and cachepusher.redis_password)";
		fail("Redis at " + where() + " refused the connection set-up: " + refusal + hint);
	}
}

void RedisConnection::handshake(const std::string &target)
{
	const RedisAddress &a = address_;
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), a.connectTimeoutMs);
	try {
		redis_tls::Handshake tls(context_, a.tls, a.host);
		for (unsigned events; (events = tls.step()) != 0;) {
			socket_wait::SocketWait wait{context_->fd, events, 0};
			if (!socket_wait::waitUntil(&wait, 1, deadline, onWake_))
				throw RedisError("the TLS handshake timed out after " + std::to_string(a.connectTimeoutMs) + " ms");
		}
	} catch (const RedisError &e) {
		disconnect();
		throw RedisError(target + ": " + e.what());
	}
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
	appendArgv(argc, args, lengths);
}

void RedisConnection::append(const std::vector<std::string> &argv)
{
	std::vector<const char *> args;
	std::vector<size_t> lengths;
	for (const std::string &arg : argv) {
		args.push_back(arg.data());
		lengths.push_back(arg.size());
	}
	appendArgv(static_cast<int>(argv.size()), args.data(), lengths.data());
}

void RedisConnection::appendArgv(int argc, const char **args, const size_t *lengths)
{
	if (context_ == nullptr)
		throw RedisError("not connected to Redis");
	if (redisAppendCommandArgv(context_, argc, args, lengths) != REDIS_OK)
		fail("could not queue a Redis command");
	queued_++;
	writeDone_ = false;
}

void RedisConnection::send()
{
	if (context_ == nullptr)
		throw RedisError("not connected to Redis");
	inFlight_ += queued_;
	queued_ = 0;
	/* What the socket does not take now goes out in receive(), which waits for it to be writable. */
	int writeDone = 0;
	if (redisBufferWrite(context_, &writeDone) == REDIS_ERR)
		fail("could not send to Redis at " + where());
	writeDone_ = writeDone != 0;
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
	return std::move(receiveAll({this})[0]);
}

void RedisConnection::pump(std::vector<RedisReplyPtr> &replies)
{
	if (!writeDone_) {
		int writeDone = 0;
		if (redisBufferWrite(context_, &writeDone) == REDIS_ERR)
			fail("could not send to Redis at " + where());
		writeDone_ = writeDone != 0;
	}
	for (;;) {
		void *reply = nullptr;
		if (redisGetReplyFromReader(context_, &reply) == REDIS_ERR)
			fail("could not parse a reply from Redis at " + where());
		if (reply == nullptr)
			return;
		replies.emplace_back(static_cast<redisReply *>(reply));
	}
}

std::vector<std::vector<RedisReplyPtr>> receiveAll(const std::vector<RedisConnection *> &connections)
{
	size_t count = connections.size();
	std::vector<std::vector<RedisReplyPtr>> replies(count);
	std::vector<size_t> expected(count);
	for (size_t i = 0; i < count; i++) {
		RedisConnection &c = *connections[i];
		if (c.context_ == nullptr)
			throw RedisError("not connected to Redis");
		expected[i] = c.inFlight_ + c.queued_;
		c.inFlight_ = 0;
		c.queued_ = 0;
		replies[i].reserve(expected[i]);
	}
	try {
		std::vector<socket_wait::SocketWait> waits;
		std::vector<size_t> waiting;
		for (;;) {
			waits.clear();
			waiting.clear();
			for (size_t i = 0; i < count; i++) {
				if (replies[i].size() == expected[i])
					continue;
				RedisConnection &c = *connections[i];
				c.pump(replies[i]);
				if (replies[i].size() < expected[i]) {
					waits.push_back({c.context_->fd, WL_SOCKET_READABLE | (c.writeDone_ ? 0u : WL_SOCKET_WRITEABLE), 0});
					waiting.push_back(i);
				}
			}
			if (waits.empty())
				return replies;
			/* command_timeout bounds silence, not the whole pipeline: any socket event restarts it. */
			RedisConnection &first = *connections[waiting[0]];
			long timeoutMs = first.address_.commandTimeoutMs;
			TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), timeoutMs);
			if (!socket_wait::waitUntil(waits.data(), static_cast<int>(waits.size()), deadline, first.onWake_))
				first.fail("Redis at " + first.where() + " did not answer within " + std::to_string(timeoutMs) + " ms");
			for (size_t k = 0; k < waits.size(); k++) {
				RedisConnection &c = *connections[waiting[k]];
				if ((waits[k].occurred & WL_SOCKET_READABLE) && redisBufferRead(c.context_) == REDIS_ERR)
					c.fail("lost the connection to Redis at " + c.where());
			}
		}
	} catch (...) {
		/* Replies still owed would be taken for those of the next commands: close those connections. */
		for (size_t i = 0; i < count; i++)
			if (replies[i].size() < expected[i])
				connections[i]->disconnect();
		throw;
	}
}

} // namespace cachepusher
