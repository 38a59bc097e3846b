# What the TAP tests share: a PostgreSQL node that preloads the worker and talks to a real
# redis-server, the seed's customer/address schema, and checks that poll for a state instead of
# sleeping.
package CachePusher::Test;

use strict;
use warnings;
use Exporter 'import';
use File::Basename qw(dirname);
use File::Spec;
use JSON::PP;
use POSIX ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use CachePusher::Redis;

our @EXPORT = qw(
  start_redis new_node load_seed_schema add_seed_source watch_seed_source seed_changes poll_until
  cache_differences cache_matches hash_differences json_differences worker_pid cpu_seconds wakeups_during source_status
  keys_received
  load_random_writes start_churn churn_ok converged readme_quick_start);

my $repo = File::Spec->rel2abs(dirname(__FILE__) . '/../../..');
our $timeout = $PostgreSQL::Test::Utils::timeout_default;

sub start_redis { return CachePusher::Redis->new(@_); }

# A started node whose worker serves database "postgres" and writes to $redis. Short retry
# intervals keep the fault tests quick; extra postgresql.conf lines come in $opts{conf}, options
# for PostgreSQL::Test::Cluster's init (allows_streaming => 1) in $opts{init}; extension => 0 leaves
# CREATE EXTENSION to the test.
sub new_node
{
	my ($name, $redis, %opts) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(%{ $opts{init} // {} });
	my $port = $redis->port;
	$node->append_conf('postgresql.conf', <<"CONF" . ($opts{conf} // ''));
shared_preload_libraries = 'cachepusher'
cachepusher.database = 'postgres'
cachepusher.redis_host = '127.0.0.1'
cachepusher.redis_port = $port
cachepusher.retry_interval = 100
cachepusher.retry_max_interval = 1000
log_min_messages = info
CONF
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION cachepusher') unless defined $opts{extension} && !$opts{extension};
	return $node;
}

# The 2015 seed's tables, triggers and customer_get() (examples/schema.sql), in database "postgres".
# customers => N inserts customers 1..N ('customer i'); addresses => M then M addresses spread over
# them (address i belongs to customer 1 + i % N, in 'city i'): the data most tests start from.
sub load_seed_schema
{
	my ($node, %opts) = @_;
	$node->safe_psql('postgres', slurp_file("$repo/examples/schema.sql"));
	my $customers = $opts{customers} // 0;
	my $addresses = $opts{addresses} // 0;
	die 'load_seed_schema: addresses need customers' if $addresses && !$customers;
	$node->safe_psql('postgres', qq{
		INSERT INTO customer (name) SELECT 'customer ' || i FROM generate_series(1, $customers) i;
		INSERT INTO address (fk_customer, city)
		SELECT 1 + i % $customers, 'city ' || i FROM generate_series(1, $addresses) i;
	}) if $customers;
	return;
}

# The SQL of the README's quick start, as a newcomer copies it: the first ```sql block under
# "## Quick start", without its CREATE EXTENSION (the test made it).
sub readme_quick_start
{
	my $readme = slurp_file("$repo/README.md");
	$readme =~ /^## Quick start\n.*?^```sql\n(.*?)^```/ms or die 'README.md has no quick start SQL';
	my $sql = $1;
	$sql =~ s/^CREATE EXTENSION cachepusher;\n//m;
	return $sql;
}

# The seed's source, served through its own channels, as the README shows.
sub add_seed_source
{
	my ($node) = @_;
	$node->safe_psql('postgres', q{
		SELECT cachepusher.add_source('customer', 'customer_get(int)',
		    'SELECT id_customer FROM customer',
		    channels => ARRAY['customer_updated', 'customer_deleted'])});
	return;
}

# The seed's source "customer" fed by watch() on both tables instead of the seed's NOTIFY triggers;
# $arguments: more named arguments of add_source as SQL ("value_type => 'hash'").
sub watch_seed_source
{
	my ($node, $arguments) = @_;
	my $more = defined $arguments ? ", $arguments" : '';
	$node->safe_psql('postgres', qq{
		SELECT cachepusher.add_source('customer', 'customer_get(int)', 'SELECT id_customer FROM customer'$more);
		SELECT cachepusher.watch('customer', 'customer', 'id_customer');
		SELECT cachepusher.watch('customer', 'address', 'fk_customer');
	});
	return;
}

# A change of each kind on the seed's tables (after load_seed_schema with at least 5 customers):
# customer 1 renamed, an address added to customer 2, customer 5 deleted, a customer inserted.
sub seed_changes
{
	my ($node) = @_;
	$node->safe_psql('postgres', q{
		UPDATE customer SET name = 'renamed' WHERE id_customer = 1;
		INSERT INTO address (fk_customer, street, city, zip) VALUES (2, '1 New Street', 'Oslo', '0150');
		DELETE FROM customer WHERE id_customer = 5;
		INSERT INTO customer (name) VALUES ('newcomer');
	});
	return;
}

# Calls $check until it returns true or the test timeout passes; returns whether it did.
sub poll_until
{
	my ($check, $seconds) = @_;
	my $deadline = time + ($seconds // $timeout);
	while (time < $deadline)
	{
		return 1 if $check->();
		usleep(20_000);
	}
	return $check->() ? 1 : 0;
}

# What differs between Redis and the database for one prefix, as sorted lines
# "missing <key>", "stale <key>", "orphan <key>". $documents is a query returning (key, document).
sub cache_differences
{
	my ($node, $redis, $prefix, $documents) = @_;
	# hex keeps any byte of a document intact through psql's text output; convert_to(..., 'SQL_ASCII')
	# is the text's own bytes in any database encoding (what the worker writes), even in a SQL_ASCII
	# database whose text is no UTF-8.
	my $out = $node->safe_psql('postgres',
		"SELECT encode(convert_to(k::text, 'SQL_ASCII'), 'hex'), encode(convert_to(d::text, 'SQL_ASCII'), 'hex')
		   FROM ($documents) AS docs(k, d) WHERE d IS NOT NULL");
	my %db;
	for my $line (split /\n/, $out)
	{
		my ($k, $d) = split /\|/, $line;
		$db{ "$prefix:" . pack('H*', $k) } = pack('H*', $d // '');
	}
	my $cache = $redis->all_under($prefix);
	my @diff;
	for my $key (keys %db)
	{
		if (!exists $cache->{$key}) { push @diff, "missing $key"; }
		elsif ($cache->{$key} ne $db{$key}) { push @diff, "stale $key"; }
	}
	push @diff, map { "orphan $_" } grep { !exists $db{$_} } keys %$cache;
	my @sorted = sort @diff;
	return @sorted;    # in scalar context: how many differ
}

# The same for a source whose value_type is hash: each document's members as PostgreSQL's
# json_each_text() splits them (a string as its characters, anything else as its JSON text; its
# JSON null as "null") against the fields of the hash. A document without members has no key.
sub hash_differences
{
	my ($node, $redis, $prefix, $documents) = @_;
	my $out = $node->safe_psql('postgres',
		"SELECT encode(convert_to(k::text, 'SQL_ASCII'), 'hex'), encode(convert_to(f.key, 'SQL_ASCII'), 'hex'),
		        encode(convert_to(coalesce(f.value, 'null'), 'SQL_ASCII'), 'hex')
		   FROM ($documents) AS docs(k, d), json_each_text(d::json) f WHERE d IS NOT NULL");
	my %db;
	for my $line (split /\n/, $out)
	{
		my ($k, $f, $v) = split /\|/, $line;
		$db{ "$prefix:" . pack('H*', $k) }{ pack('H*', $f) } = pack('H*', $v // '');
	}
	my $cache = $redis->all_hashes_under($prefix);
	my @diff;
	for my $key (keys %db)
	{
		my ($want, $got) = ($db{$key}, $cache->{$key});
		if (!defined $got) { push @diff, "missing $key"; next; }
		my $same = ref $got eq 'HASH' && keys %$want == keys %$got
		  && !grep { !exists $got->{$_} || $got->{$_} ne $want->{$_} } keys %$want;
		push @diff, "stale $key" unless $same;
	}
	push @diff, map { "orphan $_" } grep { !exists $db{$_} } keys %$cache;
	my @sorted = sort @diff;
	return @sorted;
}

# The same for a source whose value_type is json: JSON.GET's text against each document, both read
# as JSON and written canonically (members sorted, numbers as Perl prints them), since the module
# writes its own spacing and member order.
sub json_differences
{
	my ($node, $redis, $prefix, $documents) = @_;
	my $json = JSON::PP->new->utf8->canonical->allow_nonref;
	my $out = $node->safe_psql('postgres',
		"SELECT encode(convert_to(k::text, 'UTF8'), 'hex'), encode(convert_to(d::text, 'UTF8'), 'hex')
		   FROM ($documents) AS docs(k, d) WHERE d IS NOT NULL");
	my %db;
	for my $line (split /\n/, $out)
	{
		my ($k, $d) = split /\|/, $line;
		$db{ "$prefix:" . pack('H*', $k) } = $json->encode($json->decode(pack('H*', $d)));
	}
	my $cache = $redis->all_json_under($prefix);
	my @diff;
	for my $key (keys %db)
	{
		my $got = $cache->{$key};
		if (!defined $got) { push @diff, "missing $key"; next; }
		my $same = $got !~ /^\(/ && eval { $json->encode($json->decode($got)) } eq $db{$key};
		push @diff, "stale $key" unless $same;
	}
	push @diff, map { "orphan $_" } grep { !exists $db{$_} } keys %$cache;
	my @sorted = sort @diff;
	return @sorted;
}

# Polls until Redis equals the database for the prefix; one test, which shows the differences left.
# $differences: cache_differences (the default), hash_differences or json_differences.
sub cache_matches
{
	my ($node, $redis, $prefix, $documents, $name, $differences) = @_;
	$differences //= \&cache_differences;
	my @diff;
	poll_until(sub { @diff = $differences->($node, $redis, $prefix, $documents); !@diff });
	my $shown = @diff > 10 ? join(', ', @diff[0 .. 9]) . ', ...' : join(', ', @diff);
	return is(scalar(@diff), 0, $name) || diag("differences (" . scalar(@diff) . "): $shown");
}

sub worker_pid
{
	my ($node) = @_;
	return $node->safe_psql('postgres',
		"SELECT pid FROM pg_stat_activity WHERE backend_type = 'cachepusher'");
}

# The CPU time (user + system, in seconds) process $pid has used so far: /proc/PID/stat fields 14
# and 15, counted from after the command name (field 2), which is in parentheses and may hold spaces.
sub cpu_seconds
{
	my ($pid) = @_;
	open(my $fh, '<', "/proc/$pid/stat") or die "cannot read /proc/$pid/stat: $!";
	my $stat = <$fh>;
	close $fh;
	my @fields = split / /, substr($stat, rindex($stat, ')') + 2);
	return ($fields[11] + $fields[12]) / POSIX::sysconf(POSIX::_SC_CLK_TCK);
}

# How often process $pid went to sleep of its own accord during $seconds (voluntary context switches,
# /proc/PID/status): an idle worker waits on its latch a few times a second, one in a wake-up loop a
# thousand times or more.
sub wakeups_during
{
	my ($pid, $seconds) = @_;
	my $switches = sub {
		open(my $fh, '<', "/proc/$pid/status") or die "cannot read /proc/$pid/status: $!";
		my ($n) = join('', <$fh>) =~ /^voluntary_ctxt_switches:\s+(\d+)/m;
		close $fh;
		return $n;
	};
	my $before = $switches->();
	sleep $seconds;
	return $switches->() - $before;
}

# One source's row of cachepusher.status as a hash.
sub source_status
{
	my ($node, $source) = @_;
	my @cols = qw(state keys_received documents_written keys_deleted errors pending keys_ignored ms_per_document stats_reset);
	my $row = $node->safe_psql('postgres',
		'SELECT ' . join(', ', @cols) . " FROM cachepusher.status WHERE source = '$source'");
	my %status;
	@status{@cols} = split /\|/, $row;
	return \%status;
}

# The keys a source has received, once the worker has read everything committed before the call.
sub keys_received
{
	my ($node, $source) = @_;
	$node->safe_psql('postgres', 'SELECT cachepusher.wait_for_sync()');
	return source_status($node, $source)->{keys_received};
}

# Random application writes on the seed's schema: 2000 customers with 4000 addresses, and
# chaos(r), one random change an application makes, chosen by r. Call after load_seed_schema;
# start_churn($node, 'SELECT chaos(:r);', ...) runs it.
sub load_random_writes
{
	my ($node) = @_;
	$node->safe_psql('postgres', <<'SQL');
INSERT INTO customer (name, email) SELECT 'customer ' || i, 'c' || i || '@example.com' FROM generate_series(1, 2000) i;
INSERT INTO address (fk_customer, street, city) SELECT 1 + i % 2000, i || ' Main St', 'City' FROM generate_series(1, 4000) i;

-- Races between clients that a real application would see too (a customer deleted under a new
-- address) are caught here, so that every transaction commits: a failed transaction means
-- something else went wrong.
CREATE FUNCTION chaos(r bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    c int := 1 + (r / 16) % 2400;   -- a customer id, sometimes one that does not exist (yet)
    a int := 1 + (r / 16) % 5000;   -- an address id, likewise
BEGIN
    CASE r % 16
        WHEN 0, 1, 2, 3 THEN UPDATE customer SET name = 'name ' || r WHERE id_customer = c;
        WHEN 4 THEN INSERT INTO customer (name) VALUES ('new ' || r);
        WHEN 5 THEN DELETE FROM customer WHERE id_customer = c;
        WHEN 6, 7 THEN INSERT INTO address (fk_customer, street, city) VALUES (c, r || ' New St', 'Town');
        WHEN 8, 9 THEN UPDATE address SET city = 'city ' || r WHERE id_address = a;
        WHEN 10, 11 THEN UPDATE address SET fk_customer = c WHERE id_address = a;   -- a child moves
        WHEN 12 THEN DELETE FROM address WHERE id_address = a;
        WHEN 13 THEN UPDATE customer SET email = 'bulk' || r WHERE id_customer % 97 = r % 97;   -- many at once
        WHEN 14 THEN UPDATE customer SET id_customer = id_customer + 10000 WHERE id_customer = c;   -- a key changes
        ELSE UPDATE address SET street = 'moved ' || r, fk_customer = c WHERE id_address IN (a, a + 1);
    END CASE;
EXCEPTION WHEN foreign_key_violation OR unique_violation THEN
    NULL;
END $$;

-- id_customer + 10000 must not cascade-fail: let address follow the customer's new id.
ALTER TABLE address DROP CONSTRAINT address_fk_customer_fkey,
    ADD FOREIGN KEY (fk_customer) REFERENCES customer ON DELETE CASCADE ON UPDATE CASCADE;
SQL
	return;
}

# The application writing while a fault strikes: pgbench runs $sql (with :r a random number) on
# $opts{clients} (2) connections for $seconds in the background, its random numbers seeded by
# $opts{seed} when given (for a replay). churn_ok waits for it, checks that no application
# transaction failed (pgbench counts a transaction that failed to serialize or deadlocked, and ends
# a client at any other error) and returns how many committed.
sub start_churn
{
	my ($node, $sql, $seconds, %opts) = @_;
	my $script = PostgreSQL::Test::Utils::tempdir() . '/churn.sql';
	append_to_file($script, "\\set r random(0, 1000000000)\n$sql\n");
	my %run = (out => '', err => '');
	$run{harness} = IPC::Run::start(
		[ 'pgbench', '-n', '-c', $opts{clients} // 2, '-j', '2', '-T', $seconds, '-f', $script,
		  (defined $opts{seed} ? ("--random-seed=$opts{seed}") : ()),
		  '-h', $node->host, '-p', $node->port, 'postgres' ],
		'>', \$run{out}, '2>', \$run{err});
	return \%run;
}

sub churn_ok
{
	my ($run, $what) = @_;
	$run->{harness}->finish;
	is($?, 0, "pgbench ran without an error $what");
	note($run->{out});
	my ($done) = $run->{out} =~ /number of transactions actually processed: (\d+)/;
	my ($failed) = $run->{out} =~ /number of failed transactions: (\d+)/;
	my $aborted = () = $run->{err} =~ /client \d+ .*aborted/g;
	ok(($done // 0) > 50, 'the clients committed ' . ($done // 0) . " transactions $what");
	unlike($run->{out} . $run->{err}, qr/number of failed transactions: [1-9]|aborted/,
		"no application transaction failed $what (" . ($failed // 'no count') . " failed, $aborted clients ended by an error)");
	return $done // 0;
}

# After a fault: wait_for_sync() true, verify() empty, and Redis equal to the database.
sub converged
{
	my ($node, $redis, $prefix, $documents, $what) = @_;
	is($node->safe_psql('postgres', q{SELECT cachepusher.wait_for_sync('60 s')}), 't', "in step $what");
	is($node->safe_psql('postgres', 'SELECT count(*) FROM cachepusher.verify()'), '0', "verify() finds nothing $what");
	cache_matches($node, $redis, $prefix, $documents, "Redis equals the database $what");
	return;
}

1;
