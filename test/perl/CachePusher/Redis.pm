# A real Redis (or Valkey) server for one test, started on a free port, and a minimal RESP client to read it.
# The client speaks the wire protocol directly so tests see exact bytes, with no shell quoting.
package CachePusher::Redis;

use strict;
use warnings;
use IO::Socket::INET;
use File::Path qw(make_path);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Time::HiRes qw(usleep);

my @running;    # stopped by END, also when a test dies

# The programs: Redis or Valkey (test/run sets these from REDIS_FLAVOR, tools/platform.sh).
sub server_program { return $ENV{REDIS_SERVER} || 'redis-server'; }
sub cli_program { return $ENV{REDIS_CLI} || 'redis-cli'; }

sub new
{
	my ($class, %opts) = @_;
	my $self = bless {
		port => $opts{port} // PostgreSQL::Test::Cluster::get_free_port(),
		dir  => $opts{dir} // PostgreSQL::Test::Utils::tempdir('redis'),
		args => $opts{args} // [],
		config => $opts{config},        # a configuration file, read first (a Sentinel's)
		sentinel => $opts{sentinel},    # run as a Sentinel (redis-server --sentinel)
		# { cert, key, ca }: also a TLS port (tls_port) with that certificate, for the worker; the
		# tests' client keeps the plain port. Replication and the cluster bus use TLS too.
		tls => $opts{tls},
		server => $opts{server},        # the server program, when not server_program()'s
	}, $class;
	$self->{tls_port} = PostgreSQL::Test::Cluster::get_free_port() if $self->{tls};
	$self->start;
	return $self;
}

sub port { return $_[0]->{port}; }
sub tls_port { return $_[0]->{tls_port}; }
# The port the worker reaches this server on: its TLS port when it has one.
sub worker_port { return $_[0]->{tls_port} // $_[0]->{port}; }

sub tls_args
{
	my ($self) = @_;
	my $tls = $self->{tls} or return ();
	return ('--tls-port', $self->{tls_port}, '--tls-cert-file', $tls->{cert}, '--tls-key-file', $tls->{key},
		'--tls-ca-cert-file', $tls->{ca}, '--tls-auth-clients', 'no',
		($self->{sentinel} ? () : ('--tls-replication', 'yes')));
}
sub logfile { return "$_[0]->{dir}/redis.log"; }

sub start
{
	my ($self) = @_;
	my $pidfile = "$self->{dir}/redis.pid";
	unlink $pidfile;
	system_or_bail(
		$self->{server} // server_program(), ($self->{config} ? ($self->{config}) : ()),
		'--port', $self->{port}, '--bind', '127.0.0.1',
		'--dir', $self->{dir}, '--save', '', '--appendonly', 'no',
		'--daemonize', 'yes', '--pidfile', $pidfile, '--logfile', $self->logfile,
		$self->tls_args, @{ $self->{args} }, ($self->{sentinel} ? ('--sentinel') : ()));
	for (1 .. 500)
	{
		last if -s $pidfile && eval { $self->command('PING'); 1 };
		usleep(10_000);
	}
	$self->command('PING') eq 'PONG' or die(($self->{server} // server_program()) . " on port $self->{port} did not start");
	$self->{pid} = PostgreSQL::Test::Utils::slurp_file($pidfile) + 0;
	push @running, $self;
	return;
}

# Stops the server. By default at once, without saving: whatever it held is gone, as after a
# crash. With keep => 1 it saves first, and the next start() loads what it held.
sub stop
{
	my ($self, %opts) = @_;
	my $pid = delete $self->{pid} or return;
	if ($opts{keep}) { eval { $self->command('SHUTDOWN', 'SAVE') }; }
	else { kill 'KILL', $pid; }
	usleep(10_000) while kill 0, $pid;
	delete $self->{socket};
	@running = grep { $_ != $self } @running;
	return;
}

# Over a copy: stop() takes each server out of @running, which would skip every other one.
END { $_->stop for my @all = @running; }

# Sends one command, returns its reply: a string, an integer, undef for nil, an array ref for an
# array. An error reply dies with its text. A connection the server closed while it was idle (a
# Sentinel reconfiguring a node kills its clients) is opened again once, as Redis clients do: the
# server never read the command then.
sub command
{
	my ($self, @args) = @_;
	my $reused = defined $self->{socket};
	my $reply = eval { $self->_command(@args) };
	return $reply unless $@;
	die $@ unless $reused && $@ =~ /^(redis closed the connection|cannot send to redis)/;
	return $self->_command(@args);
}

sub _command
{
	my ($self, @args) = @_;
	my $sock = $self->{socket} //= IO::Socket::INET->new(
		PeerAddr => '127.0.0.1', PeerPort => $self->{port}, Proto => 'tcp', Timeout => 5)
	  or die "cannot connect to redis on port $self->{port}: $!";
	my $request = '*' . scalar(@args) . "\r\n";
	$request .= '$' . length($_) . "\r\n$_\r\n" for @args;
	unless (print {$sock} $request)
	{
		delete $self->{socket};
		die "cannot send to redis: $!";
	}
	my $reply = eval { _read_reply($sock) };
	if (!defined $reply && $@)
	{
		delete $self->{socket} unless $@ =~ /^redis error/;
		die $@;
	}
	return $reply;
}

sub _read_line
{
	my ($sock) = @_;
	my $line = <$sock>;
	die "redis closed the connection\n" unless defined $line;
	$line =~ s/\r\n\z//;
	return $line;
}

sub _read_reply
{
	my ($sock) = @_;
	my $line = _read_line($sock);
	my ($type, $rest) = (substr($line, 0, 1), substr($line, 1));
	return $rest if $type eq '+';
	return $rest + 0 if $type eq ':';
	die "redis error: $rest\n" if $type eq '-';
	if ($type eq '$')
	{
		return undef if $rest < 0;
		my $data = '';
		while (length($data) < $rest + 2)
		{
			my $n = read($sock, $data, $rest + 2 - length($data), length($data));
			die "redis closed the connection\n" unless $n;
		}
		return substr($data, 0, $rest);
	}
	if ($type eq '*')
	{
		return undef if $rest < 0;
		return [ map { _read_reply($sock) } 1 .. $rest ];
	}
	die "unexpected redis reply: $line\n";
}

# Sends several commands at once (each an array ref), returns their replies in order; an error reply
# comes back as a hash ref { error => text }.
sub pipeline
{
	my ($self, @commands) = @_;
	return () unless @commands;
	$self->command('PING');    # connects
	my $sock = $self->{socket};
	my $request = '';
	for my $args (@commands)
	{
		$request .= '*' . scalar(@$args) . "\r\n";
		$request .= '$' . length($_) . "\r\n$_\r\n" for @$args;
	}
	print {$sock} $request or do { delete $self->{socket}; die "cannot send to redis: $!"; };
	my @replies;
	for (@commands)
	{
		my $reply = eval { _read_reply($sock) };
		if (!defined $reply && $@)
		{
			die $@ unless $@ =~ /^redis error: (.*)/;
			$reply = { error => $1 };
		}
		push @replies, $reply;
	}
	return @replies;
}

sub get { my ($self, $key) = @_; return $self->command('GET', $key); }

# Every key under "prefix:" (SCAN).
sub keys_under
{
	my ($self, $prefix) = @_;
	my @keys;
	my $cursor = '0';
	do
	{
		my $reply = $self->command('SCAN', $cursor, 'MATCH', "$prefix:*", 'COUNT', 1000);
		$cursor = $reply->[0];
		push @keys, @{ $reply->[1] };
	} while ($cursor ne '0');
	return @keys;
}

# Every key under "prefix:" with its value, as a hash.
sub all_under
{
	my ($self, $prefix) = @_;
	my %values;
	my @keys = $self->keys_under($prefix);
	# GET, not MGET: on a cluster node the keys of one MGET must share a hash slot.
	while (my @chunk = splice(@keys, 0, 500))
	{
		my @got = $self->pipeline(map { [ 'GET', $_ ] } @chunk);
		@values{@chunk} = @got;
	}
	delete $values{$_} for grep { !defined $values{$_} || ref $values{$_} } keys %values;
	return \%values;
}

# Every hash under "prefix:" with its fields, as { key => { field => value } }; keys of another
# type come as the string '(type)' instead of a hash.
sub all_hashes_under
{
	my ($self, $prefix) = @_;
	my %hashes;
	my @keys = $self->keys_under($prefix);
	while (my @chunk = splice(@keys, 0, 500))
	{
		my @got = $self->pipeline(map { [ 'HGETALL', $_ ] } @chunk);
		for my $i (0 .. $#chunk)
		{
			my $reply = $got[$i];
			if (ref $reply eq 'HASH') { $hashes{ $chunk[$i] } = "($reply->{error})"; }
			elsif (@$reply) { $hashes{ $chunk[$i] } = { @$reply }; }
		}
	}
	return \%hashes;
}

# Every key under "prefix:" with JSON.GET's reply (the module's JSON text), as a hash; keys of
# another type come as the string '(type)' instead.
sub all_json_under
{
	my ($self, $prefix) = @_;
	my %values;
	my @keys = $self->keys_under($prefix);
	while (my @chunk = splice(@keys, 0, 500))
	{
		my @got = $self->pipeline(map { [ 'JSON.GET', $_ ] } @chunk);
		for my $i (0 .. $#chunk)
		{
			my $reply = $got[$i];
			next unless defined $reply;
			$values{ $chunk[$i] } = ref $reply eq 'HASH' ? "($reply->{error})" : $reply;
		}
	}
	return \%values;
}

1;
