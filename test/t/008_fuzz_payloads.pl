# Fuzzed notifications. The worker gets random payloads on every channel it listens to: random bytes
# of 0 to 7999 bytes (NOTIFY's limit), keys that almost cast ("042", " 42", "4.2"), and payloads of
# the watch() triggers' multi-key format mangled every way (unknown or empty source names, empty
# keys, truncated escapes, garbage lines around good keys), interleaved with real changes. Some
# changes are made silently (no trigger fires) and their keys are sent only inside the garbage: the
# worker must pick every one of them out.
#
# It stays up (one pid, no crash in the server log), counts the garbage in status.errors, logs it
# without flooding the log (bounded lines, each one short), and ends with Redis equal to the
# database and verify() finding nothing.
#
# Twice: in a SQL_ASCII database, where a payload can hold every byte but NUL, and in a UTF-8 one,
# where it holds characters of one to four bytes (and log excerpts must not cut one in half).
#
# Seeded: the seed is printed; CACHEPUSHER_SEED=<n> replays the same payloads.
use strict;
use warnings;
use Encode ();
use List::Util qw(shuffle min);
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use CachePusher::Test;

my $seed = $ENV{CACHEPUSHER_SEED} // int(rand(1_000_000_000));
diag("random seed $seed (replay: CACHEPUSHER_SEED=$seed)");
srand($seed);

# NOTIFY refuses a payload of 8000 bytes or more (8000 counts the terminating NUL).
my $max_payload = 7999;
my $transactions = 90;    # per database, each with real, silent and garbage notifications

my $encoding;             # of the database being fuzzed: SQL_ASCII or UTF8

# One random character of the database encoding, as bytes; never NUL.
sub random_char
{
	return chr(1 + int(rand(255))) if $encoding eq 'SQL_ASCII';
	my $r = rand;
	my $cp =
	    $r < 0.6  ? 1 + int(rand(0x7f))
	  : $r < 0.8  ? 0x80 + int(rand(0x780))
	  : $r < 0.95 ? 0x800 + int(rand(0xf800))
	  :             0x10000 + int(rand(0x100000));
	$cp = 0xfffd if $cp >= 0xd800 && $cp <= 0xdfff;
	return Encode::encode('UTF-8', chr($cp));
}

# The characters the payload format gives a meaning to, and words it knows, often.
my @structural = ("\n", "\\", "\\n", "\\\\", "customer", "item", "cachepusher", "0", "42", " ", "-");

# Random text of at most $max bytes, whole characters only.
sub random_text
{
	my ($max, $structured) = @_;
	my $text = '';
	while (1)
	{
		my $piece =
		  $structured && rand() < 0.5 ? $structural[ int(rand(@structural)) ] : random_char();
		last if length($text) + length($piece) > $max;
		$text .= $piece;
	}
	return $text;
}

# Lengths that matter most: empty, short, long, right at the limit.
sub random_length
{
	my $r = rand;
	return 0 if $r < 0.05;
	return 1 + int(rand(16)) if $r < 0.45;
	return 17 + int(rand(200)) if $r < 0.7;
	return 217 + int(rand($max_payload - 217)) if $r < 0.9;
	return $max_payload - int(rand(10));
}

# Strings that almost name customer $id: they cast to an integer, or nearly.
sub almost_key
{
	my ($id) = @_;
	my @forms = (
		"0$id", " $id", "$id ", "+$id", "$id\t", "\n$id", "$id\n", "$id.0", "${id}e0", "-$id", "$id-",
		sprintf('0x%x', $id), "2147483648", '9' x 30, '', "$id\\", "\\$id", "$id$id$id$id$id$id$id$id$id$id",
		"$id/", "$id,$id", "$id;");
	push @forms, Encode::encode('UTF-8', "\x{0663}\x{0664}") if $encoding eq 'UTF8';    # Arabic digits
	return $forms[ int(rand(@forms)) ];
}

# A key as the watch() triggers write it into a payload.
sub escape_key
{
	my ($key) = @_;
	$key =~ s/\\/\\\\/g;
	$key =~ s/\n/\\n/g;
	return $key;
}

# A line that is garbage in a keys payload: a lone backslash at its end (a truncated escape), empty,
# random, structural.
sub garbage_line
{
	my ($max) = @_;
	my $r = rand;
	my $line =
	    $r < 0.15 ? random_text(min($max, 40), 1) . "\\"
	  : $r < 0.25 ? ''
	  : $r < 0.35 ? "\\" x (1 + int(rand(5)))
	  : $r < 0.7  ? random_text(min($max, 1 + int(rand(60))), 1)
	  :             random_text(min($max, random_length()), 0);
	return length($line) <= $max ? $line : '';
}

# Keys payloads of $source carrying every one of @good (escaped) among garbage lines, each payload
# at most $max_payload bytes. Garbage may hold line breaks: that only makes more garbage lines.
sub keys_payloads
{
	my ($source, @good) = @_;
	my @lines = map { escape_key($_) } @good;
	my @payloads;
	my $payload = $source;
	for my $line (shuffle @lines)
	{
		if (length($payload) + 1 + length($line) > $max_payload)
		{
			push @payloads, $payload;
			$payload = $source;
		}
		while (rand() < 0.6)
		{
			my $room = $max_payload - length($payload) - 1 - (1 + length($line));
			last if $room < 0;
			$payload .= "\n" . garbage_line($room);
		}
		$payload .= "\n$line";
	}
	while (rand() < 0.5)
	{
		my $room = $max_payload - length($payload) - 1;
		last if $room < 0;
		$payload .= "\n" . garbage_line($room);
	}
	push @payloads, $payload;
	return @payloads;
}

# A payload on the worker's keys channel that is garbage as a whole.
sub garbage_keys_payload
{
	my @sources = ('', 'customer ', 'Customer', 'custome', "customer\\", "customer\r", 'item_',
		'no_such_source', random_text(1 + int(rand(70)), 0));
	my $r = rand;
	return random_text(random_length(), 0) if $r < 0.2;
	return random_text(random_length(), 1) if $r < 0.35;
	return 'customer' if $r < 0.4;                  # a source, no keys
	return "customer\n" . ("\n" x int(rand(4))) if $r < 0.45;    # empty keys only
	my $source = $r < 0.8 ? $sources[ int(rand(@sources)) ] : (rand() < 0.5 ? 'customer' : 'item');
	my $payload = $source;
	while (rand() < 0.8)
	{
		my $room = $max_payload - length($payload) - 1;
		last if $room < 0;
		$payload .= "\n" . garbage_line($room);
	}
	return $payload;
}

# A payload on the control channel that asks for nothing (a resync would hide lost keys).
sub garbage_control_payload
{
	my $payload = rand() < 0.3 ? "resync\n" . random_text(random_length() - 7, rand() < 0.5) : random_text(random_length(), 1);
	$payload = "x$payload" if $payload =~ /\A(reload|resync)\z/ || $payload eq "resync\n"
	  || $payload =~ /\Aresync\n(customer|item)\z/;
	return substr($payload, 0, $max_payload) eq $payload ? $payload : 'x';
}

sub hex_of { return unpack('H*', $_[0]); }

# SQL for a text value of any bytes: the test's statements stay ASCII.
sub sql_text { return "fuzz_text('" . hex_of($_[0]) . "')"; }

sub notify_sql
{
	my (@notifications) = @_;
	return '' unless @notifications;
	return "SELECT count(pg_notify(c, fuzz_text(p))) FROM (VALUES "
	  . join(', ', map { "('$_->[0]', '" . hex_of($_->[1]) . "')" } @notifications)
	  . ") AS n(c, p);\n";
}

sub fuzz_database
{
	($encoding) = @_;
	note("fuzzing a $encoding database");
	my $redis = start_redis();
	my $node = new_node('fuzz_' . lc($encoding), $redis,
		init => { extra => [ "--encoding=$encoding", '--locale=C' ] });
	load_seed_schema($node, customers => 300, addresses => 600);
	$node->safe_psql('postgres', q{
		CREATE FUNCTION fuzz_text(h text) RETURNS text LANGUAGE sql STABLE
		    AS $$ SELECT convert_from(decode(h, 'hex'), current_setting('server_encoding')) $$;
		-- Text keys of any bytes, watched by the statement triggers of watch().
		CREATE TABLE item (id serial PRIMARY KEY, k text NOT NULL CHECK (k <> ''), v int NOT NULL DEFAULT 0);
		CREATE INDEX ON item (k);
		CREATE FUNCTION item_doc(key text) RETURNS json LANGUAGE sql STABLE AS $$
		    SELECT json_build_object('k', key, 'rows', json_agg(json_build_object('id', i.id, 'v', i.v) ORDER BY i.id))
		      FROM item i WHERE i.k = key HAVING count(*) > 0 $$;
	});
	is($node->safe_psql('postgres', 'SHOW server_encoding'), $encoding, "the database is $encoding");
	add_seed_source($node);

	my @customers = (1 .. 300);
	my $next_customer = 100_000;
	my @items;
	my %item;
	my $new_item_key = sub {
		my $key;
		do
		{
			my $len = rand() < 0.9 ? 1 + int(rand(30)) : 1 + int(rand(2000));
			$key = random_text($len, rand() < 0.5);
		} while ($key eq '' || $item{$key});
		$item{$key} = 1;
		push @items, $key;
		return $key;
	};
	my $drop_item_key = sub {
		my ($key) = @_;
		delete $item{$key};
		@items = grep { $_ ne $key } @items;
	};
	$new_item_key->() for 1 .. 100;
	$node->safe_psql('postgres',
		'INSERT INTO item (k) VALUES ' . join(', ', map { '(' . sql_text($_) . ')' } @items));
	$node->safe_psql('postgres', q{
		SELECT cachepusher.add_source('item', 'item_doc(text)', 'SELECT DISTINCT k FROM item');
		SELECT cachepusher.watch('item', 'item', 'k');
	});
	is($node->safe_psql('postgres', 'SELECT cachepusher.wait_for_sync()'), 't', 'warm before the fuzz');

	my $pid = worker_pid($node);
	my $log_offset = -s $node->logfile;
	my $before = source_status($node, 'customer');
	my $started = time;
	my %bad_customer_keys;    # distinct keys sent for customer that cannot be integers: each an error
	my $garbage_sent = 0;
	my $same_pid = 1;
	my $pick = sub { return $_[ int(rand(@_)) ]; };

	for my $tx (1 .. $transactions)
	{
		my (@silent, @real, @notifications, @good_customers, @good_items);

		# Changes no trigger tells about: only the payloads below name their keys.
		for (1 .. 1 + int(rand(3)))
		{
			my $r = rand;
			if ($r < 0.6)
			{
				my $id = $pick->(@customers);
				push @silent, "UPDATE customer SET name = 'silent $tx " . int(rand(1e6)) . "' WHERE id_customer = $id";
				push @good_customers, $id;
			}
			elsif ($r < 0.8)
			{
				my $id = $next_customer++;
				push @silent, "INSERT INTO customer (id_customer, name) VALUES ($id, 'silently new')";
				push @customers, $id;
				push @good_customers, $id;
			}
			elsif (@customers > 50)
			{
				my $id = $pick->(@customers);
				push @silent, "DELETE FROM address WHERE fk_customer = $id", "DELETE FROM customer WHERE id_customer = $id";
				@customers = grep { $_ != $id } @customers;
				push @good_customers, $id;
			}
		}
		for (1 .. 1 + int(rand(3)))
		{
			my $r = rand;
			if ($r < 0.5)
			{
				my $key = $pick->(@items);
				push @silent, 'UPDATE item SET v = v + 1 WHERE k = ' . sql_text($key);
				push @good_items, $key;
			}
			elsif ($r < 0.8)
			{
				my $key = $new_item_key->();
				push @silent, 'INSERT INTO item (k) VALUES (' . sql_text($key) . ')';
				push @good_items, $key;
			}
			elsif (@items > 30)
			{
				my $key = $pick->(@items);
				push @silent, 'DELETE FROM item WHERE k = ' . sql_text($key);
				$drop_item_key->($key);
				push @good_items, $key;
			}
		}

		# Real changes: their triggers notify.
		for (1 .. int(rand(4)))
		{
			my $r = rand;
			if ($r < 0.3)
			{
				push @real, "UPDATE customer SET email = 'real $tx' WHERE id_customer = " . $pick->(@customers);
			}
			elsif ($r < 0.5)
			{
				push @real, "UPDATE address SET city = 'moved $tx', fk_customer = " . $pick->(@customers)
				  . ' WHERE id_address = ' . (1 + int(rand(600)));
			}
			elsif ($r < 0.8)
			{
				push @real, 'INSERT INTO item (k) VALUES '
				  . join(', ', map { '(' . sql_text($new_item_key->()) . ')' } 1 .. 1 + int(rand(20)));
			}
			elsif (@items > 30)
			{
				my $key = $pick->(@items);
				push @real, 'DELETE FROM item WHERE k = ' . sql_text($key);
				$drop_item_key->($key);
			}
		}

		# The good keys: a customer's on a seed channel alone or amid garbage in a keys payload;
		# an item's amid garbage in a keys payload.
		my @in_payload;
		for my $id (@good_customers)
		{
			if (rand() < 0.4) { push @notifications, [ $pick->('customer_updated', 'customer_deleted'), $id ]; }
			else { push @in_payload, $id; }
		}
		push @notifications, map { [ 'cachepusher', $_ ] } keys_payloads('customer', @in_payload) if @in_payload;
		push @notifications, map { [ 'cachepusher', $_ ] } keys_payloads('item', @good_items) if @good_items;

		# Garbage on every channel.
		for (1 .. 3 + int(rand(10)))
		{
			my $r = rand;
			my ($channel, $payload);
			if ($r < 0.35)
			{
				$channel = $pick->('customer_updated', 'customer_deleted');
				$payload = rand() < 0.5 ? almost_key($pick->(@customers)) : random_text(random_length(), rand() < 0.3);
				$bad_customer_keys{$payload} = 1 if $payload !~ /\A[\s0-9+-]*[0-9][\s0-9+-]*\z/;
			}
			elsif ($r < 0.85)
			{
				($channel, $payload) = ('cachepusher', garbage_keys_payload());
			}
			else
			{
				($channel, $payload) = ('cachepusher_control', garbage_control_payload());
			}
			push @notifications, [ $channel, $payload ];
			$garbage_sent++;
		}

		my $sql = "BEGIN;\n";
		$sql .= "SET LOCAL session_replication_role = replica;\n" . join(";\n", @silent) . ";\n"
		  . "SET LOCAL session_replication_role = origin;\n"
		  if @silent;
		my @statements = ((map { "$_;\n" } @real), map { notify_sql($_) } @notifications);
		$sql .= join('', shuffle @statements) . "COMMIT;\n";
		$node->safe_psql('postgres', $sql);
		$same_pid &&= worker_pid($node) eq $pid if $tx % 6 == 0;
	}

	# A flood: one transaction whose payloads carry 6000 keys that are no integers.
	my @flood = map { sprintf('flood-%05d-%s', $_, hex_of(random_char())) } 1 .. 6000;
	$bad_customer_keys{$_} = 1 for @flood;
	my @flood_payloads;
	my $payload = 'customer';
	for my $key (@flood)
	{
		if (length($payload) + 1 + length($key) > $max_payload)
		{
			push @flood_payloads, $payload;
			$payload = 'customer';
		}
		$payload .= "\n$key";
	}
	push @flood_payloads, $payload;
	$node->safe_psql('postgres',
		"BEGIN;\n" . join('', map { notify_sql([ 'cachepusher', $_ ]) } @flood_payloads) . "COMMIT;\n");
	$garbage_sent += @flood_payloads;

	is($node->safe_psql('postgres', q{SELECT cachepusher.wait_for_sync('60 s')}), 't', 'in step after the fuzz');
	my $elapsed = time - $started;
	note(sprintf('%d transactions with %d garbage notifications and a flood of %d bad keys took %.1f s',
		$transactions, $garbage_sent, scalar(@flood), $elapsed));

	# Counted.
	my $after = source_status($node, 'customer');
	ok($after->{keys_received} > $before->{keys_received} + 6000, 'the keys are received');
	my $bad = scalar(keys %bad_customer_keys);
	ok($after->{errors} - $before->{errors} >= $bad,
		"the keys that are no integers are counted in errors ($bad distinct sent, "
		  . ($after->{errors} - $before->{errors}) . ' counted)');

	# Written: the silently changed keys came only in the payloads.
	cache_matches($node, $redis, 'customer', 'SELECT id_customer, customer_get(id_customer) FROM customer',
		"$encoding: Redis equals the database for customer (seed $seed)");
	cache_matches($node, $redis, 'item', 'SELECT k, item_doc(k) FROM (SELECT DISTINCT k FROM item) AS keys',
		"$encoding: Redis equals the database for item (seed $seed)");
	is($node->safe_psql('postgres', 'SELECT count(*) FROM cachepusher.verify()'), '0', 'verify() finds nothing');

	# Logged, without flooding: a bounded number of short lines. What is not logged is counted, in a
	# line written once its window (10 s) is over.
	$elapsed = time - $started;
	my @lines = grep { /cachepusher:/ } split /\n/, slurp_file($node->logfile, $log_offset);
	my $budget = 100 * (int($elapsed / 10) + 2) + 20;
	ok(@lines <= $budget, scalar(@lines) . " log lines in ${\ int($elapsed) } s for $garbage_sent garbage notifications and "
		  . scalar(@flood) . " bad keys (at most $budget)");
	ok(@lines >= 50, 'the garbage is logged');
	my @long = grep { length($_) > 1000 } @lines;
	is(scalar(@long), 0, 'every line is short: payloads and keys are cut') or diag(substr($long[0], 0, 300));
	ok(poll_until(sub { slurp_file($node->logfile, $log_offset) =~ /cachepusher: \d+ more lines about bad keys and notifications not logged/ }, 30),
		'what is not logged is counted in the log');
	if ($encoding eq 'UTF8')
	{
		ok(eval { Encode::decode('UTF-8', slurp_file($node->logfile), Encode::FB_CROAK); 1 },
			'the log is valid UTF-8: excerpts are cut between characters');
	}

	# Up, from the first payload to the last check.
	ok($same_pid && worker_pid($node) eq $pid, 'the worker kept its pid throughout');
	my $log = slurp_file($node->logfile);
	unlike($log, qr/terminated by signal|exited with exit code|terminating any other active server processes|worker stopped by an unexpected error/,
		'no crash or restart in the server log');
	my $starts = () = $log =~ /cachepusher: worker started/g;
	is($starts, 1, 'the worker started once');
	# A warmup would write every key and hide one the worker failed to pick out of the garbage.
	my $warmups = () = $log =~ /cachepusher: warming source/g;
	is($warmups, 2, 'each source was warmed once, before the fuzz: every key came from a payload');

	$node->stop;
	$redis->stop;
	return;
}

fuzz_database('SQL_ASCII');
fuzz_database('UTF8');

done_testing();
