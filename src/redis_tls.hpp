/*
 * TLS for the connections to Redis (cachepusher.redis_tls), through hiredis_ssl with an SSL object of
 * our own: hiredis only sends the server name (SNI), it never checks it, so the host name check is
 * set here (SSL_set1_host / an IP address check), beside the chain check against the CA.
 *
 * Built only when hiredis has TLS (hiredis >= 1.0 with hiredis_ssl: Debian trixie and later). Built
 * without it, asking for TLS is an error at connect, before anything is sent: never clear text.
 */
#pragma once

#include <string>

struct redisContext;

namespace cachepusher {

struct TlsSettings {
	enum class Verify { Full, Ca, None };

	bool enabled = false;
	std::string caFile;
	std::string caDir;
	std::string certFile;
	std::string keyFile;
	std::string serverName; /* empty: the host connected to */
	Verify verify = Verify::Full;
	bool sentinel = true; /* the Sentinel too, when enabled */
	/* The files' times and sizes when the settings were read: a file changed on disk reconnects at reload. */
	std::string fileVersions;

	bool operator==(const TlsSettings &other) const;
};

namespace redis_tls {

/* Whether this build can speak TLS. */
bool supported();

/* What TlsSettings::fileVersions holds for these settings now. */
std::string fileVersions(const TlsSettings &settings);

/*
 * One TLS session being set up on a connected socket. start() hands it to hiredis (which owns it from
 * then on); step() drives the handshake without blocking. Both throw RedisError with what failed
 * (a certificate that does not verify says why, e.g. "hostname mismatch").
 */
class Handshake {
public:
	/* host: the name or address connected to (what is verified when serverName is empty). */
	Handshake(redisContext *context, const TlsSettings &settings, const std::string &host);
	/* 0 once the handshake is done, else the WL_SOCKET_* event to wait for before the next step. */
	unsigned step();

private:
	[[maybe_unused]] void *ssl_ = nullptr; /* SSL *, owned by the hiredis context */
	std::string peer_;
};

} // namespace redis_tls
} // namespace cachepusher
