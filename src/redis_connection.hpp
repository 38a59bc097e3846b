/*
 * One connection to Redis through hiredis, used without blocking: every wait is on the worker's latch
 * and the Redis socket together, so SIGTERM, SIGHUP and arriving notifications are heard while Redis
 * is slow, and every wait is bounded by connect_timeout / command_timeout.
 */
#pragma once

#include "redis_tls.hpp"

#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

struct redisContext;
struct redisReply;

namespace cachepusher {

/* What settings::redisAddress() reads from the settings (their defaults are in settings.cpp). */
struct RedisAddress {
	std::string host; /* starting with '/' means a unix socket path */
	int port = 0;
	int db = 0;
	std::string username;
	std::string password;
	int connectTimeoutMs = 0;
	int commandTimeoutMs = 0;
	/* How to read host and port (redis_target.hpp): a seed node of a Redis Cluster, or a Sentinel. */
	bool cluster = false;
	std::string sentinelMaster; /* empty: no Sentinel */
	TlsSettings tls;

	/* Every setting a connection is made with is the same (else the connections are made again). */
	bool sameTarget(const RedisAddress &other) const;
	/*
	 * The same data: server (or Sentinel master, or cluster seed) and database. New credentials or
	 * TLS files reach the same keys, so they need new connections, not a resync.
	 */
	bool sameData(const RedisAddress &other) const;
	/* host:port or the socket path (and "over TLS"), never the password. */
	std::string describe() const;
	/* The same for a Sentinel at this address (TLS only with redis_sentinel_tls). */
	std::string describeSentinel() const;
};

/* The connection failed or timed out; it has been closed. */
class RedisError : public std::runtime_error {
public:
	using std::runtime_error::runtime_error;
};

struct ReplyDeleter {
	void operator()(redisReply *reply) const;
};
using RedisReplyPtr = std::unique_ptr<redisReply, ReplyDeleter>;

/* "OK", an integer, or whatever Redis answered, for log lines. */
std::string describeReply(const redisReply *reply);
bool isErrorReply(const redisReply *reply);

class RedisConnection {
public:
	/* onWake runs when the latch is set while we wait for Redis (notifications to drain). */
	explicit RedisConnection(std::function<void()> onWake);
	~RedisConnection();
	RedisConnection(const RedisConnection &) = delete;
	RedisConnection &operator=(const RedisConnection &) = delete;

	/* Takes new settings; drops the connection when the target or credentials changed. */
	void configure(const RedisAddress &address);
	const RedisAddress &address() const { return address_; }

	bool connected() const { return context_ != nullptr; }
	/*
	 * Connects and authenticates; a data node also selects the database. A Sentinel gets the same
	 * AUTH when a password is set; its refusal is not an error (a Sentinel without a password, or
	 * without the data nodes' ACL user, lets us in anyway). Throws RedisError.
	 */
	enum class Role { Data, Sentinel };
	void connect(Role role = Role::Data);
	void disconnect();

	/* Queues one command; nothing is sent until send() or exchange(). */
	void append(std::initializer_list<std::string_view> argv);
	void append(const std::vector<std::string> &argv);
	size_t queued() const { return queued_; }
	/*
	 * Starts sending the queued commands as one pipeline, as far as the socket takes them without
	 * waiting, so Redis works on them while we do something else (build the next batch); receive()
	 * collects their replies.
	 */
	void send();
	size_t inFlight() const { return inFlight_; }
	/* Finishes sending (what is queued too) and returns one reply per command, in order. */
	std::vector<RedisReplyPtr> receive();
	/* send() + receive() for the queued commands; nothing else may be in flight. */
	std::vector<RedisReplyPtr> exchange();

private:
	friend std::vector<std::vector<RedisReplyPtr>> receiveAll(const std::vector<RedisConnection *> &connections);
	void appendArgv(int argc, const char **args, const size_t *lengths);
	/* Waits until the socket is writable (connected), serving the latch meanwhile; false on time-out. */
	bool waitWritable(long timeoutMs);
	/* The TLS handshake on the connected socket, within connect_timeout; throws RedisError. */
	void handshake(const std::string &target);
	/* Writes what the socket takes now and parses the replies that arrived, without waiting. */
	void pump(std::vector<RedisReplyPtr> &replies);
	[[noreturn]] void fail(const std::string &what);
	/* The address as this connection reaches it, for messages. */
	std::string where() const;

	std::function<void()> onWake_;
	RedisAddress address_;
	Role role_ = Role::Data;
	redisContext *context_ = nullptr;
	size_t queued_ = 0;  /* appended, not yet handed to send() */
	size_t inFlight_ = 0; /* sent (or being sent), replies not yet read */
	bool writeDone_ = true; /* everything appended has been handed to the socket */
};

/*
 * Reads the replies of everything sent (and queued) on each connection, one vector per connection,
 * in order. The connections progress together: one wait covers all their sockets and the latch, so
 * the pipelines of several Redis nodes run at the same time, SIGTERM is heard, and command_timeout
 * bounds the silence of all of them. When one fails, every connection still owing replies is closed.
 */
std::vector<std::vector<RedisReplyPtr>> receiveAll(const std::vector<RedisConnection *> &connections);

} // namespace cachepusher
