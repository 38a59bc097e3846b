#include "redis_tls.hpp"

#include "redis_connection.hpp"

#include <cerrno>
#include <cstring>
#include <memory>
#include <sys/stat.h>

extern "C" {
#include "postgres.h"
#include "storage/latch.h"
}

#ifdef CACHEPUSHER_TLS
#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <hiredis/hiredis_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <unistd.h>
#endif

namespace cachepusher {

bool TlsSettings::operator==(const TlsSettings &other) const
{
	return enabled == other.enabled && caFile == other.caFile && caDir == other.caDir &&
		   certFile == other.certFile && keyFile == other.keyFile && serverName == other.serverName &&
		   verify == other.verify && sentinel == other.sentinel && fileVersions == other.fileVersions;
}

namespace redis_tls {

std::string fileVersions(const TlsSettings &settings)
{
	if (!settings.enabled)
		return "";
	std::string stamp;
	for (const std::string *path : {&settings.caFile, &settings.certFile, &settings.keyFile}) {
		struct stat st;
		if (!path->empty() && stat(path->c_str(), &st) == 0)
			stamp += std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec) + "/" +
					 std::to_string(st.st_size) + ";";
		else
			stamp += "-;";
	}
	return stamp;
}

#ifdef CACHEPUSHER_TLS

bool supported()
{
	return true;
}

namespace {

/* What OpenSSL says went wrong (its first error), after what we were doing. */
std::string withOpensslError(std::string what)
{
	unsigned long e = ERR_get_error();
	if (e != 0) {
		char text[256];
		ERR_error_string_n(e, text, sizeof(text));
		what += ": ";
		what += text;
	}
	ERR_clear_error();
	return what;
}

struct ContextDeleter {
	void operator()(SSL_CTX *context) const { SSL_CTX_free(context); }
};
using ContextPtr = std::unique_ptr<SSL_CTX, ContextDeleter>;

/* As PostgreSQL asks of its own ssl_key_file: the server's user's and 0600 or less, or root's and 0640. */
void checkKeyFile(const std::string &path)
{
	struct stat st;
	if (stat(path.c_str(), &st) != 0)
		throw RedisError("could not read the TLS key file \"" + path + "\": " + strerror(errno));
	bool ours = st.st_uid == geteuid();
	mode_t allowed = ours ? S_IRUSR | S_IWUSR : S_IRUSR | S_IWUSR | S_IRGRP;
	if (!S_ISREG(st.st_mode) || (!ours && st.st_uid != 0) || (st.st_mode & 0777 & ~allowed) != 0)
		throw RedisError("the TLS key file \"" + path +
						 "\" must be a file of the server's user with no access for group or others (0600), or "
						 "of root with read access for the group at most (0640)");
}

ContextPtr newContext(const TlsSettings &s)
{
	ContextPtr context(SSL_CTX_new(TLS_client_method()));
	if (!context)
		throw RedisError(withOpensslError("could not set up TLS"));
	SSL_CTX_set_min_proto_version(context.get(), TLS1_2_VERSION);
	if (s.verify != TlsSettings::Verify::None) {
		SSL_CTX_set_verify(context.get(), SSL_VERIFY_PEER, nullptr);
		const char *file = s.caFile.empty() ? nullptr : s.caFile.c_str();
		const char *dir = s.caDir.empty() ? nullptr : s.caDir.c_str();
		if (file || dir ? SSL_CTX_load_verify_locations(context.get(), file, dir) != 1
						: SSL_CTX_set_default_verify_paths(context.get()) != 1)
			throw RedisError(withOpensslError("could not load the certificate authorities (redis_tls_ca_file \"" +
											  s.caFile + "\", redis_tls_ca_dir \"" + s.caDir + "\")"));
	}
	if (!s.certFile.empty()) {
		const std::string &key = s.keyFile.empty() ? s.certFile : s.keyFile;
		if (SSL_CTX_use_certificate_chain_file(context.get(), s.certFile.c_str()) != 1)
			throw RedisError(withOpensslError("could not load the client certificate \"" + s.certFile + "\""));
		checkKeyFile(key);
		if (SSL_CTX_use_PrivateKey_file(context.get(), key.c_str(), SSL_FILETYPE_PEM) != 1 ||
			SSL_CTX_check_private_key(context.get()) != 1)
			throw RedisError(withOpensslError("could not load the private key \"" + key +
											  "\" of the client certificate"));
	} else if (!s.keyFile.empty())
		throw RedisError("cachepusher.redis_tls_key_file is set without cachepusher.redis_tls_cert_file");
	return context;
}

/* Why the certificate was refused, if it was. */
std::string verifyFailure(SSL *ssl, const std::string &peer)
{
	long verified = SSL_get_verify_result(ssl);
	if (verified == X509_V_OK)
		return "";
	return "the server's certificate did not verify for \"" + peer + "\": " + X509_verify_cert_error_string(verified);
}

bool isAddress(const std::string &name)
{
	unsigned char address[sizeof(struct in6_addr)];
	return inet_pton(AF_INET, name.c_str(), address) == 1 || inet_pton(AF_INET6, name.c_str(), address) == 1;
}

} // namespace

Handshake::Handshake(redisContext *context, const TlsSettings &s, const std::string &host)
	: peer_(s.serverName.empty() ? host : s.serverName)
{
	static bool initialized = false;
	if (!initialized) {
		redisInitOpenSSL();
		initialized = true;
	}
	ERR_clear_error();
	ContextPtr sslContext = newContext(s);
	/* The SSL object keeps its own reference to the context. */
	SSL *ssl = SSL_new(sslContext.get());
	if (ssl == nullptr)
		throw RedisError(withOpensslError("could not set up TLS"));
	bool address = isAddress(peer_);
	bool named = true;
	/* SNI carries names only, never an address. */
	if (!address)
		named = SSL_set_tlsext_host_name(ssl, peer_.c_str()) == 1;
	if (named && s.verify == TlsSettings::Verify::Full) {
		X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
		X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		named = address ? X509_VERIFY_PARAM_set1_ip_asc(param, peer_.c_str()) == 1
						: X509_VERIFY_PARAM_set1_host(param, peer_.c_str(), 0) == 1;
	}
	if (!named) {
		SSL_free(ssl);
		throw RedisError(withOpensslError("could not set the TLS server name \"" + peer_ + "\""));
	}
	/* Starts the handshake; from here on the context owns ssl (unless this fails). */
	if (redisInitiateSSL(context, ssl) != REDIS_OK) {
		std::string why = verifyFailure(ssl, peer_);
		if (why.empty())
			why = std::string("the TLS handshake failed: ") + context->errstr;
		SSL_free(ssl);
		throw RedisError(why);
	}
	ssl_ = ssl;
}

unsigned Handshake::step()
{
	SSL *ssl = static_cast<SSL *>(ssl_);
	ERR_clear_error();
	int done = SSL_do_handshake(ssl);
	if (done == 1)
		return 0;
	int error = SSL_get_error(ssl, done);
	if (error == SSL_ERROR_WANT_READ)
		return WL_SOCKET_READABLE;
	if (error == SSL_ERROR_WANT_WRITE)
		return WL_SOCKET_WRITEABLE;
	std::string refused = verifyFailure(ssl, peer_);
	if (!refused.empty())
		throw RedisError(refused);
	if (error == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
		throw RedisError(std::string("the TLS handshake failed: ") +
						 (errno != 0 ? strerror(errno) : "the server closed the connection (is it a TLS port?)"));
	throw RedisError(withOpensslError("the TLS handshake failed"));
}

#else /* no TLS in this build */

bool supported()
{
	return false;
}

Handshake::Handshake(redisContext *, const TlsSettings &, const std::string &host) : peer_(host)
{
	throw RedisError("cachepusher was built without TLS support");
}

unsigned Handshake::step()
{
	return 0;
}

#endif

} // namespace redis_tls
} // namespace cachepusher
