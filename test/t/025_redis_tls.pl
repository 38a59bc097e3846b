# Redis over TLS (cachepusher.redis_tls), against a real server with a TLS port and certificates made
# here with openssl. The server also has a plain port, bound to 127.0.0.1, through which the test
# reads what the worker wrote; the worker is pointed at the TLS port.
#   - built without TLS (hiredis 0.14, Debian bookworm): redis_tls = on is refused in the log and in
#     status.last_error, and nothing reaches Redis; the rest is skipped;
#   - a reload from plain TCP to TLS moves the worker over; changes keep flowing;
#   - the chain is verified: another CA is refused; the server name is verified: a wrong one is
#     refused, and accepted with redis_tls_verify = ca;
#   - a server that asks for client certificates refuses the worker without one and takes it with
#     one; a key file others can read is refused.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use CachePusher::Test;
use CachePusher::Tls;

my $ca = make_ca('ca');
my $other_ca = make_ca('other_ca');
my ($server_crt, $server_key) = make_cert('server', 'ca', 'localhost', 'DNS:localhost,IP:127.0.0.1');
my ($client_crt, $client_key) = make_cert('client', 'ca', 'cachepusher', 'DNS:cachepusher');

my $tls_port = PostgreSQL::Test::Cluster::get_free_port();
my @tls_args = ('--tls-port', $tls_port, '--tls-cert-file', $server_crt, '--tls-key-file', $server_key,
	'--tls-ca-cert-file', $ca);
my $redis = start_redis(args => [ @tls_args, '--tls-auth-clients', 'no' ]);
my $node = new_node('tls', $redis);
load_seed_schema($node);
$node->safe_psql('postgres', q{
	INSERT INTO customer (name, email) SELECT 'customer ' || i, 'c' || i || '@example.com' FROM generate_series(1, 100) i;
	INSERT INTO address (fk_customer, street, city) SELECT 1 + i % 100, 'street ' || i, 'city' FROM generate_series(1, 200) i;
});
add_seed_source($node);
my $docs = 'SELECT id_customer, customer_get(id_customer) FROM customer';
cache_matches($node, $redis, 'customer', $docs, 'plain TCP: warm');

# Points the worker at the TLS port with these settings (name => value; undef resets it).
sub use_tls
{
	my (%set) = @_;
	my $sql = '';
	for my $name (sort keys %set)
	{
		$sql .= defined $set{$name}
		  ? "ALTER SYSTEM SET cachepusher.$name = '$set{$name}';\n"
		  : "ALTER SYSTEM RESET cachepusher.$name;\n";
	}
	$node->safe_psql('postgres', $sql . 'SELECT pg_reload_conf();');
	return;
}

sub last_error
{
	return $node->safe_psql('postgres', q{SELECT last_error FROM cachepusher.status WHERE source = 'customer'});
}

# A change made now, in Redis once the worker writes again.
my $round = 0;
sub change_reaches_redis
{
	my ($name) = @_;
	$round++;
	$node->safe_psql('postgres', "UPDATE customer SET name = 'tls round $round' WHERE id_customer = 1");
	ok(poll_until(sub { ($redis->get('customer:1') // '') =~ /tls round $round/ }), $name);
	return;
}

my $log_at = -s $node->logfile;
use_tls(redis_tls => 'on', redis_port => $tls_port, redis_tls_ca_file => $ca);
ok(poll_until(sub { slurp_file($node->logfile, $log_at) =~ /connected to Redis at 127\.0\.0\.1:$tls_port over TLS|built without TLS support/ }),
	'the worker connects over TLS, or says it cannot');

if (slurp_file($node->logfile, $log_at) =~ /built without TLS support/)
{
	like(slurp_file($node->logfile, $log_at),
		qr/cannot reach Redis at 127\.0\.0\.1:$tls_port over TLS: cachepusher was built without TLS support \(hiredis >= 1\.0 with hiredis_ssl is needed\)/,
		'built without TLS: the log says what is needed');
	like(last_error(), qr/built without TLS support/, 'and status.last_error');
	is($node->safe_psql('postgres', q{SELECT state FROM cachepusher.status WHERE source = 'customer'}), 'redis_down',
		'the source waits as for a Redis that is down');
	# Nothing in clear text: the plain port is the same server, so a write would show here.
	$node->safe_psql('postgres', q{UPDATE customer SET name = 'never in clear text' WHERE id_customer = 1});
	sleep 1;
	unlike($redis->get('customer:1') // '', qr/never in clear text/, 'and nothing is written without TLS');
	done_testing();
	exit;
}

change_reaches_redis('a reload from plain TCP to TLS moves the worker over: changes reach Redis');
cache_matches($node, $redis, 'customer', $docs, 'over TLS: Redis equals the database');

# The chain: a CA that did not sign the server's certificate.
$log_at = -s $node->logfile;
use_tls(redis_tls_ca_file => $other_ca);
ok(poll_until(sub { slurp_file($node->logfile, $log_at) =~ /the server's certificate did not verify for "127\.0\.0\.1": (self-signed certificate in certificate chain|unable to get local issuer certificate)/ }),
	'another CA: refused, and the log says why');
like(last_error(), qr/did not verify/, 'status.last_error says so');
use_tls(redis_tls_ca_file => $ca);
change_reaches_redis('the right CA again: changes flow');

# The name: one the certificate does not carry.
$log_at = -s $node->logfile;
use_tls(redis_tls_server_name => 'cache.example.com');
ok(poll_until(sub { slurp_file($node->logfile, $log_at) =~ /the server's certificate did not verify for "cache\.example\.com": hostname mismatch/ }),
	'a wrong server name: refused (hostname mismatch)');
use_tls(redis_tls_verify => 'ca');
change_reaches_redis('the same name with redis_tls_verify = ca (the chain only): accepted');
use_tls(redis_tls_verify => undef, redis_tls_server_name => 'localhost');
change_reaches_redis('the name in the certificate (SNI and check): accepted');

# Client certificates: the server asks for one from now on.
$redis->stop(keep => 1);
$redis->{args} = [ @tls_args, '--tls-auth-clients', 'yes' ];
$log_at = -s $node->logfile;
$redis->start;
ok(poll_until(sub { slurp_file($node->logfile, $log_at) =~ /cachepusher: (?!connected).*127\.0\.0\.1:$tls_port over TLS/ }),
	'a server that asks for a client certificate refuses the worker without one');
unlike(slurp_file($node->logfile, $log_at), qr/connected to Redis at 127\.0\.0\.1:$tls_port/, 'it never gets in');
like(slurp_file($node->logfile, $log_at), qr/does the server want a client certificate\? cachepusher\.redis_tls_cert_file is not set/,
	'and the log says what is likely missing');

chmod 0644, $client_key;
$log_at = -s $node->logfile;
use_tls(redis_tls_cert_file => $client_crt, redis_tls_key_file => $client_key);
ok(poll_until(sub { slurp_file($node->logfile, $log_at) =~ /the TLS key file "\Q$client_key\E" must be a file of the server's user with no access for group or others/ }),
	'a key file others can read is refused');
# Each connection attempt reads the files again: the next retry takes the key.
chmod 0600, $client_key;
change_reaches_redis('with a client certificate and a private key file: accepted');
cache_matches($node, $redis, 'customer', $docs, 'Redis equals the database after all this');

# The key is readable by superusers only.
$node->safe_psql('postgres', 'CREATE ROLE app LOGIN');
my ($ret, $out, $err) = $node->psql('postgres', 'SHOW cachepusher.redis_tls_key_file', extra_params => [ '-U', 'app' ]);
like($err, qr/must be superuser|permission denied|pg_read_all_settings/, 'redis_tls_key_file is hidden from other roles');

done_testing();
